import type { BenchUser } from './cluster.js';
import { ImapClient } from './imap-client.js';

/** One wait of a login iteration (connect, greeting, a command) may take this long. */
export const commandTimeoutMs = 10_000;

/** Login cycles completed in a stretch of time, each one's duration in ms. */
export interface LoginSample {
  readonly latencies: readonly number[];
  readonly elapsedMs: number;
}

/** An IMAP quoted string (RFC 9051 §4.3). */
export function quoted(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Connects and logs in; the caller owns the client. Any answer but OK is an error. */
export async function logIn(port: number, user: BenchUser): Promise<ImapClient> {
  const client = await ImapClient.open(port, commandTimeoutMs);
  try {
    await client.ok(
      `LOGIN ${quoted(user.address)} ${quoted(user.password)}`,
      `LOGIN ${user.address} on port ${port}`,
      commandTimeoutMs,
    );
    return client;
  } catch (error) {
    client.destroy();
    throw error;
  }
}

/** One benchmark iteration: connect, greeting, LOGIN, SELECT INBOX, LOGOUT. */
export async function loginCycle(port: number, user: BenchUser): Promise<void> {
  const client = await logIn(port, user);
  try {
    await client.ok('SELECT INBOX', `SELECT INBOX of ${user.address}`, commandTimeoutMs);
    await client.logout(commandTimeoutMs);
  } finally {
    client.destroy();
  }
}

/** Logs every user in once, `concurrency` at a time (fills caches, starts up code paths). */
export async function warmUp(
  port: number,
  users: readonly BenchUser[],
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < users.length; i = next++) {
      await loginCycle(port, users[i] as BenchUser);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * `concurrency` loops of login cycles over the users in turn, for `seconds`. The first failure
 * stops every loop and is thrown. `next` carries the turn of users over from the last sample.
 */
export async function loginSample(
  port: number,
  users: readonly BenchUser[],
  concurrency: number,
  seconds: number,
  next: { user: number },
): Promise<LoginSample> {
  const latencies: number[] = [];
  let failure: unknown;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (failure === undefined && performance.now() < deadline) {
      const user = users[next.user++ % users.length] as BenchUser;
      const begin = performance.now();
      try {
        await loginCycle(port, user);
      } catch (error) {
        failure ??= error;
        return;
      }
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failure !== undefined) throw failure;
  return { latencies, elapsedMs: performance.now() - started };
}

/** Logins per second and median latency over several samples. */
export function loginRate(samples: readonly LoginSample[]): { perSecond: number; p50Ms: number } {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const elapsedMs = samples.reduce((sum, s) => sum + s.elapsedMs, 0);
  const p50Ms = latencies[Math.floor(latencies.length / 2)] ?? Number.NaN;
  return { perSecond: latencies.length / (elapsedMs / 1000), p50Ms };
}
