import type { Logger } from 'pino';
import type { MoveOutcome } from './outcome.js';
import type { MoveContext, MoveEvent, MoveRequest } from './run.js';

/** A move started through the admin API, as GET /moves shows it. */
export interface MoveJob {
  readonly user: string;
  readonly request: MoveRequest;
  readonly started: string;
  running: boolean;
  /** Phases and warnings so far (the newest progress is kept apart). */
  readonly events: MoveEvent[];
  progress?: MoveEvent | undefined;
  outcome?: MoveOutcome | undefined;
}

/** What a job needs made for it: a context of its own, and what to close when it is done. */
export type MoveContextFactory = () => Promise<{
  readonly context: Omit<MoveContext, 'report' | 'confirmDelete'>;
  close(): Promise<void>;
}>;

export class MoveBusy extends Error {}

/** Most finished jobs kept for GET /moves. */
const keptJobs = 100;
/** Most phase and warning events kept per job. */
const keptEvents = 50;

/**
 * Moves run by a node for its admin API: one at a time per user, in the background, their
 * phases logged and kept for GET /moves. The same runMove as `homing move`, with the node's
 * own admin operations as the pool's control.
 */
export class MoveJobs {
  readonly #jobs = new Map<string, MoveJob>();

  constructor(
    private readonly factory: MoveContextFactory,
    private readonly log: Logger,
  ) {}

  start(request: MoveRequest): MoveJob {
    const key = request.user.toLowerCase();
    if (this.#jobs.get(key)?.running) throw new MoveBusy(`a move of ${request.user} is running`);
    const job: MoveJob = {
      user: request.user,
      request,
      started: new Date().toISOString(),
      running: true,
      events: [],
    };
    this.#jobs.delete(key);
    this.#jobs.set(key, job);
    for (const old of this.#jobs.keys()) {
      if (this.#jobs.size <= keptJobs) break;
      if (!this.#jobs.get(old)?.running) this.#jobs.delete(old);
    }
    void this.#run(job);
    return job;
  }

  get(user: string): MoveJob | undefined {
    return this.#jobs.get(user.toLowerCase());
  }

  list(): MoveJob[] {
    return [...this.#jobs.values()];
  }

  async #run(job: MoveJob): Promise<void> {
    const log = this.log.child({ move: job.user });
    try {
      // Loaded on the first move: a node that never moves anyone does not load imapflow.
      const { runMove } = await import('./run.js');
      const made = await this.factory();
      try {
        job.outcome = await runMove(job.request, {
          ...made.context,
          report: (event) => {
            if (event.type === 'progress') {
              job.progress = event;
              return;
            }
            job.events.push(event);
            if (job.events.length > keptEvents) job.events.shift();
            if (event.type === 'warning') log.warn(event.message);
            else log.info({ phase: event.phase }, event.message);
          },
          // The API caller asked for it in the request: that is the confirmation.
          confirmDelete: async () => true,
        });
      } finally {
        await made.close();
      }
    } catch (error) {
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'move failed');
      job.outcome = {
        code: 1,
        user: job.user,
        message: error instanceof Error ? error.message : String(error),
        passes: [],
        warnings: [],
      };
    } finally {
      job.running = false;
    }
  }
}
