import type { BenchUser } from './cluster.js';
import type { HomingProcess } from './homing-process.js';
import { raiseOpenFiles } from './homing-process.js';
import type { ImapClient } from './imap-client.js';
import { imapLoginCycle, logIn } from './imap-client.js';

/** Descriptors each process keeps for itself besides the sessions (listeners, logs, LDAP...). */
const spareFiles = 100;
/** homing's `limits.descriptor_reserve` default: kept out of its session capacity. */
const homingReserve = 256;
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
  /** Why fewer than asked for, one note each. */
  readonly notes: readonly string[];
}

/**
 * How many idle sessions fit: each takes one descriptor here and two in homing (client and
 * backend socket), and the backend takes at most `backendCapacity`. The open-files limits of
 * the bench and of homing are raised first where they are short (prlimit, as root).
 */
export function planSessions(
  wanted: number,
  homing: HomingProcess,
  backendCapacity: { readonly sessions: number; readonly why: string },
  /** Clients logging in at a time, beside the idle ones. */
  loggingIn: number,
): SessionPlan {
  const notes: string[] = [];
  let sessions = wanted;
  const ours = raiseOpenFiles('self', wanted + spareFiles);
  if (ours - spareFiles < sessions) {
    sessions = Math.max(0, ours - spareFiles);
    notes.push(`the bench may open ${ours} files (ulimit -n): ${sessions} sessions`);
  }
  const theirs = raiseOpenFiles(homing.pid, 2 * wanted + homingReserve);
  // homing's own capacity: two descriptors a session after its reserve, the batch logging in
  // counted too; past it, a client gets the busy reply.
  const homingRoom = Math.floor((theirs - homingReserve) / 2) - loggingIn;
  if (homingRoom < sessions) {
    sessions = Math.max(0, homingRoom);
    notes.push(
      `homing may open ${theirs} files, 2 per session after its descriptor_reserve of ` +
        `${homingReserve}: ${sessions} sessions`,
    );
  }
  if (backendCapacity.sessions < sessions) {
    sessions = backendCapacity.sessions;
    notes.push(`${backendCapacity.why}: ${sessions} sessions`);
  }
  return { sessions, notes };
}

export interface IdleMemory {
  readonly sessions: number;
  /** Logins (in and out) homing served before the first reading. */
  readonly served: number;
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
  await openSessions(port, users, count, batch, open);
  const after = await settledRss(homing);
  return {
    sessions: count,
    served,
    rssBeforeKiB: before.least,
    rssAfterKiB: after.least,
    rssPeakKiB: after.first,
    perSessionKiB: (after.least - before.least) / count,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    heapPerSession: (after.heapUsed - before.heapUsed) / count,
    usedPerSession: (after.used - before.used) / count,
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

/** `count` sessions (users in turn), `batch` logging in at a time; the first failure throws. */
async function openSessions(
  port: number,
  users: readonly BenchUser[],
  count: number,
  batch: number,
  open: ImapClient[],
): Promise<void> {
  for (let first = 0; first < count; first += batch) {
    const size = Math.min(batch, count - first);
    const logins = Array.from({ length: size }, (_, i) =>
      logIn({ port }, users[(first + i) % users.length] as BenchUser),
    );
    const settled = await Promise.allSettled(logins);
    for (const result of settled) if (result.status === 'fulfilled') open.push(result.value);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      throw new Error(`idle session ${open.length + 1} could not log in: ${String(failed.reason)}`);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
