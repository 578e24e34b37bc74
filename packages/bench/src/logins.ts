import type { BenchUser } from './cluster.js';
import type { ProcessGroup } from './cpu.js';
import { type SideFigures, sideLines } from './report.js';
import { type Side, slicesPerSide, sliceTurns, takeTurns } from './turns.js';

/** One wait of a login iteration (connect, greeting, a command) may take this long. */
export const commandTimeoutMs = 10_000;

/** One login iteration of a protocol for one user; any failure is an error. */
export type LoginCycle = (user: BenchUser) => Promise<void>;

/** Login cycles completed in a stretch of time, each one's duration in ms. */
export interface LoginSample {
  readonly latencies: readonly number[];
  readonly elapsedMs: number;
}

/** Logs every user in once, `concurrency` at a time (fills caches, starts up code paths). */
export async function warmUp(
  cycle: LoginCycle,
  users: readonly BenchUser[],
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < users.length; i = next++) {
      await cycle(users[i] as BenchUser);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * `concurrency` loops of login cycles over the users in turn, for `seconds`. The first failure
 * stops every loop and is thrown. `next` carries the turn of users over from the last sample.
 */
export async function loginSample(
  cycle: LoginCycle,
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
        await cycle(user);
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

export interface LoginComparison {
  /** Names the rows: `IMAP` gives `IMAP logins/s c=8`. */
  readonly label: string;
  readonly sides: readonly Side[];
  readonly cycles: Readonly<Partial<Record<Side, LoginCycle>>>;
  readonly users: readonly BenchUser[];
  readonly concurrencyLevels: readonly number[];
  /** Each side's time per level, in slices taking turns. */
  readonly seconds: number;
  readonly pauseMs: number;
  /** Said under each level's row (e.g. how many TLS handshakes were resumed). */
  readonly notes?: () => string[];
}

/** Logins per second of each side at each concurrency; a few lines per level. */
export async function compareLogins(
  processes: Readonly<Record<Side, readonly ProcessGroup[]>>,
  c: LoginComparison,
): Promise<void> {
  for (const concurrency of c.concurrencyLevels) {
    const next = { user: 0 };
    const { results, usage } = await takeTurns(
      processes,
      sliceTurns(c.sides),
      (side) => {
        const cycle = c.cycles[side];
        if (!cycle) throw new Error(`no login cycle for ${side}`);
        return loginSample(cycle, c.users, concurrency, c.seconds / slicesPerSide, next);
      },
      c.pauseMs,
    );
    const figures: Partial<Record<Side, SideFigures>> = {};
    for (const side of c.sides) {
      const { perSecond, p50Ms } = loginRate(results[side]);
      const operations = results[side].reduce((sum, s) => sum + s.latencies.length, 0);
      figures[side] = { rate: perSecond, p50Ms, usage: usage[side], operations };
    }
    const label = `${c.label} logins/s c=${concurrency}`;
    for (const line of sideLines(label, 'login', c.sides, figures, c.notes?.() ?? [])) {
      console.log(line);
    }
  }
}
