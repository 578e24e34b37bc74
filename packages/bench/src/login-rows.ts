import type { BenchUser, Cluster } from './cluster.js';
import { measured, totalCpuMs } from './cpu.js';
import type { Endpoint } from './endpoint.js';
import { imapLoginCycle } from './imap-client.js';
import { compareLogins, type LoginCycle, loginSample, warmUp } from './logins.js';
import { poolNote } from './pool-log.js';
import { pop3LoginCycle } from './pop3-client.js';
import { endpointsOf, resumedNote, type Transport, transportNames } from './sides.js';
import { bySide, roundTurns, type Side, sleep, slicesPerSide } from './turns.js';

export interface LoginRows {
  readonly protocol: 'imap' | 'pop3';
  readonly transport: Transport;
  readonly users: readonly BenchUser[];
  readonly concurrencyLevels: readonly number[];
  readonly seconds: number;
  readonly pauseMs: number;
}

const describe = {
  imap: 'connect, greeting, LOGIN, SELECT INBOX, LOGOUT (waiting for the close)',
  pop3: 'connect, greeting, USER, PASS, STAT, QUIT (waiting for the close)',
};

/** Logins per second of every side at each concurrency, over one transport. */
export async function loginRows(cluster: Cluster, r: LoginRows): Promise<void> {
  // The cycles connect through these endpoints' TLS clients, which count the resumed handshakes.
  const endpoints = endpointsOf(cluster, r.protocol, r.transport);
  const cycles = cyclesOf(endpoints, r.protocol);
  const name = r.protocol.toUpperCase();
  const resumed = r.transport === 'tls-resumed';
  const sides = cluster.loginSides;
  if (resumed) {
    // Each side's first session, so that the measured handshakes have one to resume.
    for (const side of sides) await warmUp(cycles[side], r.users.slice(0, 1), 1);
    resumedNote(endpoints, sides);
  }
  // Each level's row says where homing's pool sent new connections since the row before.
  let rowFrom = Date.now();
  console.log(
    `${name} logins, ${transportNames[r.transport]}: one login = ${describe[r.protocol]}; ` +
      `users in turn; ${r.seconds} s each side per level, in ${slicesPerSide} slices taking turns`,
  );
  await compareLogins(cluster.processes, {
    label: r.transport === 'plain' ? name : `${name} ${r.transport}`,
    sides,
    cycles,
    users: r.users,
    concurrencyLevels: r.concurrencyLevels,
    seconds: r.seconds,
    pauseMs: r.pauseMs,
    notes: () => {
      const notes = resumed ? [resumedNote(endpoints, sides)] : [];
      const now = Date.now();
      const pool = poolNote(cluster.homing.poolChanges(), rowFrom, now);
      rowFrom = now;
      return pool ? [...notes, pool] : notes;
    },
  });
}

/** Every user logs in once on every side (directory caches, code paths, Dovecot's indexes). */
export async function warmUpAll(
  cluster: Cluster,
  protocol: 'imap' | 'pop3',
  users: readonly BenchUser[],
  concurrency: number,
): Promise<void> {
  const cycles = cyclesOf(endpointsOf(cluster, protocol, 'plain'), protocol);
  for (const side of cluster.loginSides) await warmUp(cycles[side], users, concurrency);
}

/** Each side's login cycle of a protocol through its endpoint. */
function cyclesOf(
  endpoints: Record<Side, Endpoint>,
  protocol: 'imap' | 'pop3',
): Record<Side, LoginCycle> {
  const once = protocol === 'imap' ? imapLoginCycle : pop3LoginCycle;
  return bySide(
    (side): LoginCycle =>
      (user) =>
        once(endpoints[side], user),
  );
}

/** Unmeasured load before a protocol's rows: how long each side gets, in how many turns. */
export interface WarmUpLoad {
  readonly seconds: number;
  readonly turns: number;
  readonly concurrency: number;
  readonly pauseMs: number;
}

/**
 * Logins at the measured concurrency on every side, in turns, before any row is measured: a
 * node in production has served millions of logins, and V8 compiles a Node process's code over
 * its first thousands (homing's CPU per login falls by about a third over its first 15 s of
 * logins at 50 at a time on the development machine; the pipe's, a few dozen lines, settles at
 * once). A homing with two workers gives each half the logins, and its CPU per login settles
 * later: 0.44, 0.32, 0.41, 0.28, 0.28, 0.34 ms in six turns of 5 s, one process beside it 0.37,
 * 0.29, 0.30, 0.24, 0.26, 0.27. Before the TLS rows the same with TLS handshakes: without, the
 * first TLS row found two workers still compiling their TLS code (1.20-1.31 ms per IMAP login
 * against one process's 0.87-0.91 there, 0.88-0.94 against 0.74-0.82 in the rows after). Returns
 * one line: each proxy's CPU per login in each turn.
 */
export async function warmUpUnderLoad(
  cluster: Cluster,
  protocol: 'imap' | 'pop3',
  users: readonly BenchUser[],
  load: WarmUpLoad,
  transport: Transport = 'plain',
): Promise<string> {
  const cycles = cyclesOf(endpointsOf(cluster, protocol, transport), protocol);
  const next = { user: 0 };
  const sides = cluster.loginSides;
  const turns = bySide((): { logins: number; cpuMs: number }[] => []);
  for (const side of roundTurns(load.turns, sides)) {
    await sleep(load.pauseMs);
    const run = await measured(cluster.processes[side], () =>
      loginSample(cycles[side], users, load.concurrency, load.seconds / load.turns, next),
    );
    turns[side].push({ logins: run.result.latencies.length, cpuMs: totalCpuMs(run.usage) });
  }
  const perLogin = (turn: { logins: number; cpuMs: number }) =>
    turn.logins > 0 ? (turn.cpuMs / turn.logins).toFixed(2) : '?';
  const proxies = sides.filter((side) => side !== 'direct');
  const changes = proxies.map((side) => `${side} ${turns[side].map(perLogin).join(' → ')} ms`);
  const logins = sides.reduce(
    (sum, side) => sum + turns[side].reduce((n, turn) => n + turn.logins, 0),
    0,
  );
  return (
    `warm-up: ${load.seconds} s of ${protocol.toUpperCase()} logins ` +
    `(${transportNames[transport]}) ${load.concurrency} at a time on every side in ` +
    `${load.turns} turns (${logins} logins, unmeasured); CPU per login in each turn: ` +
    changes.join(', ')
  );
}
