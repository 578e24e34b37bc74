import type { BenchUser, Cluster } from './cluster.js';
import { imapLoginCycle } from './imap-client.js';
import { compareLogins, type LoginCycle, warmUp } from './logins.js';
import { pop3LoginCycle } from './pop3-client.js';
import { endpointsOf, resumedNote, type Transport, transportNames } from './sides.js';
import { allSides, type Side, slicesPerSide } from './turns.js';

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
  const endpoints = endpointsOf(cluster, r.protocol, r.transport);
  const once = r.protocol === 'imap' ? imapLoginCycle : pop3LoginCycle;
  const cycles = Object.fromEntries(
    allSides.map((side): [Side, LoginCycle] => [side, (user) => once(endpoints[side], user)]),
  );
  const name = r.protocol.toUpperCase();
  const resumed = r.transport === 'tls-resumed';
  if (resumed) {
    // Each side's first session, so that the measured handshakes have one to resume.
    for (const side of allSides) await warmUp(cycles[side] as LoginCycle, r.users.slice(0, 1), 1);
    resumedNote(endpoints);
  }
  console.log(
    `${name} logins, ${transportNames[r.transport]}: one login = ${describe[r.protocol]}; ` +
      `users in turn; ${r.seconds} s each side per level, in ${slicesPerSide} slices taking turns`,
  );
  await compareLogins(cluster.processes, {
    label: r.transport === 'plain' ? name : `${name} ${r.transport}`,
    sides: allSides,
    cycles,
    users: r.users,
    concurrencyLevels: r.concurrencyLevels,
    seconds: r.seconds,
    pauseMs: r.pauseMs,
    notes: () => (resumed ? [resumedNote(endpoints)] : []),
  });
}

/** Every user logs in once on every side (directory caches, code paths, Dovecot's indexes). */
export async function warmUpAll(
  cluster: Cluster,
  protocol: 'imap' | 'pop3',
  users: readonly BenchUser[],
  concurrency: number,
): Promise<void> {
  const endpoints = endpointsOf(cluster, protocol, 'plain');
  const once = protocol === 'imap' ? imapLoginCycle : pop3LoginCycle;
  for (const side of allSides) {
    await warmUp((user) => once(endpoints[side], user), users, concurrency);
  }
}
