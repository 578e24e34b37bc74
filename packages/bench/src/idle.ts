import type { BenchUser } from './cluster.js';
import { type HomingProcess, raiseOpenFiles } from './homing-process.js';
import type { ImapClient } from './imap-client.js';
import { imapLoginCycle, logIn } from './imap-client.js';

/** Descriptors the bench keeps for itself besides the sessions (pipes, logs, Dovecot's tools). */
const spareFiles = 100;
/**
 * Busy greetings in a row after which a session is given up and no more are opened: with
 * workers on one shared accept socket, an idle full worker wins most accepts from one that is
 * busy logging clients in and has room.
 */
const busyTries = 200;

/**
 * Before RSS is read, homing runs a full garbage collection; that may start V8's memory reducer,
 * which some seconds later hands back the heap the last burst of logins left committed (tens of
 * MiB, more than the sessions hold). RSS is sampled each second until it has dropped and held
 * for a few samples, or for at most `settleLimitMs`.
 */
const settleLimitMs = 60_000;
/**
 * The reducer starts after a full collection that frees some committed memory, and gives up
 * when it finds nothing to reduce; another collection now and then starts it again.
 */
const collectEverySamples = 10;
const sampleEveryMs = 1000;
const dropFraction = 0.05;
const heldSamples = 3;

export interface SessionPlan {
  readonly sessions: number;
  /** Each limit on the sessions, the one that binds first. */
  readonly limits: readonly { readonly sessions: number; readonly why: string }[];
}

/**
 * How many idle sessions fit: each takes one descriptor in the bench (its open-files limit is
 * raised first where it is short and root may), homing holds what its processes' own session
 * capacities add up to, less the batch logging in, and the backend at most `backendCapacity`.
 */
export function planSessions(
  wanted: number,
  homingCapacities: readonly number[],
  backendCapacity: { readonly sessions: number; readonly why: string },
  /** Clients logging in at a time, beside the idle ones. */
  loggingIn: number,
): SessionPlan {
  const ours = raiseOpenFiles('self', Math.min(wanted, 1 << 30) + spareFiles);
  const homing = homingCapacities.reduce((a, b) => a + b, 0);
  const each = homingCapacities.join(' + ');
  const limits = [
    { sessions: wanted, why: 'BENCH_SESSIONS' },
    {
      sessions: ours - spareFiles,
      why: `the bench may open ${ours} files (ulimit -n), ${spareFiles} of them kept`,
    },
    {
      sessions: homing - loggingIn,
      why:
        `homing's session capacity is ${homingCapacities.length > 1 ? `${each} = ` : ''}` +
        `${homing} (per process: open-files limit less descriptor_reserve, 2 a session), ` +
        `${loggingIn} of it for the batch logging in`,
    },
    backendCapacity,
  ]
    .filter((limit) => Number.isFinite(limit.sessions))
    .sort((a, b) => a.sessions - b.sessions);
  return { sessions: Math.max(0, limits[0]?.sessions ?? 0), limits };
}

export interface IdleMemory {
  readonly sessions: number;
  /** Logins (in and out) homing served before the first reading. */
  readonly served: number;
  /** Busy greetings the sessions met on the way in, each tried again. */
  readonly busy: number;
  /** Why fewer sessions than planned were opened, if they were. */
  readonly stopped: string | undefined;
  /** Descriptors each of homing's processes had open with the sessions, the primary first. */
  readonly descriptors: readonly number[];
  /** Settled RSS of each process with the sessions, the primary first, in KiB. */
  readonly rssEachKiB: readonly number[];
  /** Settled RSS without the sessions and with them, in KiB. */
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
  /** RSS a second after the last login, before the heap settled. */
  readonly rssPeakKiB: number;
  /** (after - before) / sessions. */
  readonly perSessionKiB: number;
  /** V8 heap used after a full collection, before and after, in bytes. */
  readonly heapBefore: number;
  readonly heapAfter: number;
  /** Heap used per session, in bytes. */
  readonly heapPerSession: number;
  /**
   * Per session, in bytes: RSS less the heap V8 has committed but not used, right after each
   * full collection; what settling waits for, without the wait's uncertainty.
   */
  readonly usedPerSession: number;
  /** Seconds each settle took; false when RSS had not dropped within the limit. */
  readonly settled: readonly [Settled, Settled];
}

export interface Settled {
  readonly dropped: boolean;
  readonly seconds: number;
}

/**
 * Serves `served` logins (in, SELECT, out) through homing, so that what a process grows to
 * once it has been in use is not counted; then logs `count` sessions in, `batch` at a time
 * over the users in turn, leaves them idle and compares homing's settled RSS, and its heap
 * after a full collection, before and after. The sessions stay open for the caller to close.
 */
export async function idleSessionMemory(
  homing: HomingProcess,
  port: number,
  users: readonly BenchUser[],
  sessions: { readonly count: number; readonly served: number; readonly batch: number },
  open: ImapClient[],
): Promise<IdleMemory> {
  const { count, served, batch } = sessions;
  await serveLogins(port, users, served, batch);
  const before = await settledRss(homing);
  const { busy, stopped } = await openSessions(port, users, count, batch, open);
  const held = open.length;
  const after = await settledRss(homing);
  return {
    sessions: held,
    stopped,
    served,
    busy,
    descriptors: homing.openDescriptors(),
    rssEachKiB: homing.rssEachKiB(),
    rssBeforeKiB: before.least,
    rssAfterKiB: after.least,
    rssPeakKiB: after.first,
    perSessionKiB: (after.least - before.least) / held,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    heapPerSession: (after.heapUsed - before.heapUsed) / held,
    usedPerSession: (after.used - before.used) / held,
    settled: [before, after],
  };
}

async function settledRss(
  homing: HomingProcess,
): Promise<{ first: number; least: number; heapUsed: number; used: number } & Settled> {
  homing.collectGarbage();
  let heapUsed = Number.NaN;
  let used = Number.NaN;
  const samples: number[] = [];
  let droppedAt: number | undefined;
  while (samples.length * sampleEveryMs < settleLimitMs) {
    await sleep(sampleEveryMs);
    homing.assertRunning();
    if (samples.length > 0 && samples.length % collectEverySamples === 0) homing.collectGarbage();
    const rss = homing.rssKiB();
    if (samples.length === 0) {
      const usage = homing.memoryUsage();
      heapUsed = usage.heapUsed;
      used = usage.rss - usage.heapTotal + usage.heapUsed;
    }
    samples.push(rss);
    if (droppedAt === undefined && rss < (samples[0] as number) * (1 - dropFraction)) {
      droppedAt = samples.length;
    }
    if (droppedAt !== undefined && samples.length >= droppedAt + heldSamples) break;
  }
  return {
    first: samples[0] ?? Number.NaN,
    least: Math.min(...samples),
    heapUsed,
    used,
    dropped: droppedAt !== undefined,
    seconds: (samples.length * sampleEveryMs) / 1000,
  };
}

/** `count` login cycles (users in turn), `batch` at a time; the first failure throws. */
async function serveLogins(
  port: number,
  users: readonly BenchUser[],
  count: number,
  batch: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      await imapLoginCycle({ port }, users[i % users.length] as BenchUser);
    }
  };
  await Promise.all(Array.from({ length: Math.min(batch, count) }, worker));
}

/**
 * `count` sessions (users in turn), `batch` logging in at a time; a busy greeting is tried again
 * (with workers, the worker that took the connection may be full while another is not), up to
 * `busyTries` in a row, after which no more sessions are opened; any other failure throws.
 */
async function openSessions(
  port: number,
  users: readonly BenchUser[],
  count: number,
  batch: number,
  open: ImapClient[],
): Promise<{ busy: number; stopped: string | undefined }> {
  let busy = 0;
  let stopped: string | undefined;
  const logInUntilIn = async (user: BenchUser): Promise<ImapClient | undefined> => {
    for (let tries = 1; ; tries++) {
      try {
        return await logIn({ port }, user);
      } catch (error) {
        if (!isBusy(error)) throw error;
        busy += 1;
        if (tries >= busyTries) {
          stopped = `${busyTries} busy greetings in a row for one session`;
          return undefined;
        }
      }
    }
  };
  for (let first = 0; first < count && !stopped; first += batch) {
    const size = Math.min(batch, count - first);
    const logins = Array.from({ length: size }, (_, i) =>
      logInUntilIn(users[(first + i) % users.length] as BenchUser),
    );
    const settled = await Promise.allSettled(logins);
    for (const result of settled) {
      if (result.status === 'fulfilled' && result.value) open.push(result.value);
    }
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      throw new Error(`idle session ${open.length + 1} could not log in: ${String(failed.reason)}`);
    }
  }
  return { busy, stopped };
}

/** homing's busy reply at the greeting (RFC 5530 UNAVAILABLE), as logIn reports it. */
function isBusy(error: unknown): boolean {
  return error instanceof Error && /^greeting .*\* BYE \[UNAVAILABLE\]/.test(error.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
