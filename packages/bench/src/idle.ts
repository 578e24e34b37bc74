import type { BenchUser } from './cluster.js';
import type { SessionHolders } from './holders.js';
import type { HomingProcess } from './homing-process.js';
import { imapLoginCycle } from './imap-client.js';

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
 * over the users in turn, in `holders`, leaves them idle and compares homing's settled RSS, and
 * its heap after a full collection, before and after. The sessions stay open for the caller
 * to let go.
 */
export async function idleSessionMemory(
  homing: HomingProcess,
  port: number,
  users: readonly BenchUser[],
  sessions: { readonly count: number; readonly served: number; readonly batch: number },
  holders: SessionHolders,
): Promise<IdleMemory> {
  const { count, served, batch } = sessions;
  await serveLogins(port, users, served, batch);
  const before = await settledRss(homing);
  const {
    opened: held,
    busy,
    stopped,
  } = await holders.open(port, users, count, {
    batch,
    busyTries,
  });
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
