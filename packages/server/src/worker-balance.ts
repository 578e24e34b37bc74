import { cpus } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';

/** A worker's answer to the primary's `load`. */
export interface WorkerLoad {
  /** Its event loop's utilization since the primary last asked, 0–1. */
  readonly busy: number;
  /** Client connections it has open, and how many it takes at most (null: no bound). */
  readonly sessions: number;
  readonly capacity: number | null;
  /** False where its listeners cannot be steered (no native module, no SO_REUSEPORT). */
  readonly steerable: boolean;
  /** What its listeners were last told: fill (true), spread (false), or nothing yet. */
  readonly filling: boolean | undefined;
}

export type BalanceSettings = Config['worker_balance'];

/** Where new connections go next, and why it changed (for the log). */
export interface Balance {
  readonly fill: boolean;
  readonly reason: string;
}

/** Intervals a pool that spread stays spread: a load near `busy` does not flip it every second. */
export const spreadAtLeast = 10;
/** Filling again wants the whole load to fit one worker with this share of `busy` to spare. */
const refillShare = 0.75;

/**
 * The pool's next balance, from its workers' loads over the last interval and the CPUs the
 * machine left idle then. Filling one worker stops when it is busy while CPUs are idle (a second
 * worker can run beside it) or when it holds its share of sessions; spreading stops when one
 * worker could take the whole load again, after `spreadAtLeast` intervals.
 */
export function nextBalance(
  filling: boolean,
  loads: readonly WorkerLoad[],
  idleCpus: number,
  intervalsSpread: number,
  s: BalanceSettings,
): Balance {
  if (s.new_connections === 'spread') return spread('worker_balance.new_connections is spread');
  if (loads.length < 2) return spread('fewer than two workers answered');
  if (loads.some((l) => !l.steerable)) return spread('a worker cannot steer its listeners');
  const full = loads.find((l) => l.capacity !== null && l.sessions >= s.sessions * l.capacity);
  if (filling) {
    if (full) return spread(`a worker holds ${full.sessions} of its ${full.capacity} sessions`);
    const busiest = Math.max(...loads.map((l) => l.busy));
    if (busiest >= s.busy && idleCpus >= s.idle_cpus) {
      return spread(`a worker is ${percent(busiest)} busy and ${idleCpus.toFixed(1)} CPUs idle`);
    }
    return { fill: true, reason: 'one worker takes the load' };
  }
  if (intervalsSpread < spreadAtLeast) return spread('spread lately');
  const sessions = loads.reduce((sum, l) => sum + l.sessions, 0);
  const capacity = Math.min(...loads.map((l) => l.capacity ?? Number.POSITIVE_INFINITY));
  if (sessions >= (s.sessions * capacity) / 2) return spread('sessions for more than one worker');
  const total = loads.reduce((sum, l) => sum + l.busy, 0);
  if (total < s.busy * refillShare) {
    return { fill: true, reason: `the pool is ${percent(total)} busy: one worker can take it` };
  }
  if (total < s.busy && idleCpus < s.idle_cpus) {
    return { fill: true, reason: `no CPU idle (${idleCpus.toFixed(1)}) for a second worker` };
  }
  return spread('the load wants more than one worker');
}

function spread(reason: string): Balance {
  return { fill: false, reason };
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

/** CPU time the machine spent idle, summed over its CPUs, in ms (os.cpus()). */
function idleMs(): number {
  return cpus().reduce((sum, cpu) => sum + cpu.times.idle, 0);
}

/**
 * The primary's side: every `interval` it asks the workers for their load, decides, and tells
 * them where new connections go when that changed, or when a worker (new, or reloaded) was
 * told something else.
 */
export class WorkerBalancer {
  #filling = false;
  /** As if spread long enough: a pool that starts idle fills one worker at the first look. */
  #intervalsSpread = spreadAtLeast;
  #timer: NodeJS.Timeout | undefined;
  #idleBefore = idleMs();
  #at = performance.now();
  #stopped = false;

  constructor(
    readonly settings: () => BalanceSettings,
    readonly ask: (
      op: 'load' | 'steer',
      args?: unknown[],
      timeoutMs?: number,
    ) => Promise<unknown[]>,
    readonly log: Logger,
  ) {}

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick().finally(() => this.#schedule()), this.#every);
    this.#timer.unref();
  }

  get #every(): number {
    return Math.max(100, this.settings().interval);
  }

  async #tick(): Promise<void> {
    const loads = (await this.ask('load', [], this.#every)) as WorkerLoad[];
    const now = performance.now();
    const idle = idleMs();
    const idleCpus = (idle - this.#idleBefore) / Math.max(1, now - this.#at);
    this.#idleBefore = idle;
    this.#at = now;
    const next = nextBalance(
      this.#filling,
      loads,
      idleCpus,
      this.#intervalsSpread,
      this.settings(),
    );
    this.#intervalsSpread = next.fill ? 0 : this.#intervalsSpread + 1;
    const changed = next.fill !== this.#filling;
    this.#filling = next.fill;
    if (changed) {
      this.log.info(
        { reason: next.reason },
        next.fill ? 'pool: one worker takes new connections' : 'pool: new connections spread',
      );
    }
    if (changed || loads.some((l) => l.steerable && l.filling !== next.fill)) {
      await this.ask('steer', [next.fill], this.#every);
    }
  }
}
