/** The IMAP part: idle spliced sessions at scale (homing), FETCH throughput of every side. */
import { availableParallelism } from 'node:os';
import type { BenchUser, Cluster, Workers } from './cluster.js';
import { dovecotSessionCapacity } from './dovecot-limits.js';
import { fetchAll } from './fetch.js';
import { SessionHolders } from './holders.js';
import { idleSessionMemory, type Settled } from './idle.js';
import { expectSessions, planSessions, portsPerAddress } from './idle-plan.js';
import { fillMailbox, type MailboxContents } from './mailbox.js';
import { mebibytes } from './report.js';
import { type Transport, transportNames } from './sides.js';
import { compareTransfers, transferRuns, turnSeconds } from './transfers.js';
import { sleep } from './turns.js';

const idleBatch = 50;
const fetchMessages = 200;
const fetchMessageBytes = 256 * 1024;

export interface IdleOptions {
  /** Sessions wanted; Infinity: as many as the limits allow. */
  readonly wanted: number;
  /** Logins homing serves before the sessions (its heap grown as in service). */
  readonly served: number;
  /** The idle homing's `workers`: each worker has its own descriptor limit. */
  readonly workers: Workers;
}

/**
 * As many idle spliced IMAP sessions as the limits allow, through a homing node of their own
 * (with workers), after a long login run: homing's resident memory after the run, and its RSS
 * and heap per session. The sessions are held by processes of the bench (`holders`), let go
 * once measured; the caller kills what is left there on an error.
 */
export async function idleSessions(
  cluster: Cluster,
  users: readonly BenchUser[],
  options: IdleOptions,
  holders: { current: SessionHolders | undefined },
): Promise<void> {
  const dovecot = dovecotSessionCapacity(cluster.dovecot, idleBatch, users.length);
  const workers = options.workers === 'auto' ? availableParallelism() : options.workers;
  const expected = expectSessions(options.wanted, workers, dovecot.total, idleBatch);
  const { homing, imapPort } = await cluster.startHoming(
    'homing-idle',
    options.workers,
    expected.sources,
  );
  const capacities = await homing.sessionCapacities();
  const ownAddresses = expected.sources.length > 0;
  const plan = planSessions(options.wanted, capacities, dovecot, idleBatch, ownAddresses);
  const [binding, ...others] = plan.limits;
  console.log(
    `idle sessions: ${plan.sessions} through homing with workers: ${options.workers} ` +
      `(${capacities.length} serving process${capacities.length > 1 ? 'es' : ''}); ` +
      `bound by ${binding?.why ?? 'nothing'}`,
  );
  for (const limit of others) console.log(`  then ${limit.sessions}: ${limit.why}`);
  if (ownAddresses) {
    console.log(
      `  more than one range of source ports (${portsPerAddress()} usable): homing's backend ` +
        `connections leave from ${expected.sources.join(', ')} (source_addresses), and the ` +
        `bench processes holding the sessions from 127.0.0.11 and on, up to ` +
        `${plan.perHolder} each`,
    );
  }
  if (plan.sessions < 1) throw new Error('no room for idle sessions');
  const sessionHolders = new SessionHolders(plan.perHolder, ownAddresses);
  holders.current = sessionHolders;
  const memory = await idleSessionMemory(
    homing,
    imapPort,
    users,
    { count: plan.sessions, served: options.served, batch: idleBatch },
    sessionHolders,
  );
  const mib = (kib: number) => mebibytes(kib);
  const each = (values: readonly (number | string)[]) =>
    values.length > 1 ? ` (primary ${values[0]}, workers ${values.slice(1).join(', ')})` : '';
  console.log(
    `homing after ${memory.served} IMAP logins (${idleBatch} at a time), no session open: ` +
      `VmRSS settled ${mib(memory.rssBeforeKiB)} MiB, heap used ` +
      `${mib(memory.heapBefore / 1024)} MiB`,
  );
  console.log(
    `idle spliced session: ${memory.perSessionKiB.toFixed(1)} KiB RSS each ` +
      `(${(memory.usedPerSession / 1024).toFixed(1)} KiB less V8's committed but unused ` +
      `heap), ${(memory.heapPerSession / 1024).toFixed(1)} KiB of it V8 heap ` +
      `(${memory.sessions} sessions, ${idleBatch} logging in at a time, ${memory.busy} busy ` +
      `greetings tried again; homing VmRSS settled ` +
      `${mib(memory.rssBeforeKiB)} -> ${mib(memory.rssAfterKiB)} MiB` +
      `${each(memory.rssEachKiB.map((k) => `${mib(k)} MiB`))}, ` +
      `${mib(memory.rssPeakKiB)} MiB a second after the last login; heap used ` +
      `${mib(memory.heapBefore / 1024)} -> ${mib(memory.heapAfter / 1024)} MiB)`,
  );
  if (memory.stopped) {
    console.log(
      `  ${memory.sessions} of the ${plan.sessions} planned: stopped after ${memory.stopped} ` +
        '(a connection the kernel gives a full worker is refused though another may have room: ' +
        'see the descriptors of each)',
    );
  }
  const descriptors = memory.descriptors.reduce((a, b) => a + b, 0);
  console.log(
    `  descriptors open in homing with the sessions: ${descriptors}${each(memory.descriptors)}, ` +
      `2 a session and ${descriptors - 2 * memory.sessions} besides`,
  );
  const [before, after] = memory.settled;
  const settle = (s: Settled) => (s.dropped ? `${s.seconds} s` : `not within ${s.seconds} s`);
  console.log(
    `  settled: after a full GC in homing, until V8's memory reducer gave unused heap back ` +
      `(before ${settle(before)}, after ${settle(after)}); the least RSS counts`,
  );
  console.log(
    `  homing only: Dovecot holds a session in an imap process, not comparable; ` +
      `${sessionHolders.count} bench process${sessionHolders.count > 1 ? 'es' : ''} held them`,
  );
  await sessionHolders.release(ownAddresses);
  holders.current = undefined;
  await homing.stop();
  await sleep(3000); // Dovecot's mail processes let the sessions go
}

/** About 52 MB in the user's INBOX, once indexed by Dovecot; FETCH and RETR read it. */
export async function bigMailbox(cluster: Cluster, user: BenchUser): Promise<MailboxContents> {
  const mailbox = fillMailbox(cluster.dovecot, user, fetchMessages, fetchMessageBytes);
  await fetchAll({ port: cluster.ports.imap.direct }, user, mailbox);
  return mailbox;
}

/** `FETCH 1:* BODY.PEEK[]` of the big mailbox on every side. */
export async function fetchRows(
  cluster: Cluster,
  user: BenchUser,
  mailbox: MailboxContents,
  transport: Transport,
): Promise<void> {
  const label = transport === 'plain' ? 'IMAP FETCH MB/s' : 'IMAP FETCH MB/s TLS';
  await compareTransfers(cluster, label, 'imap', transport, (endpoint) =>
    fetchAll(endpoint, user, mailbox),
  );
  console.log(
    `  FETCH 1:* BODY.PEEK[] of ${mailbox.messages} messages, ` +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB (MB = 10^6 bytes), ${transportNames[transport]}, ` +
      `timed from the command to its tagged OK; one unmeasured run each side, then ` +
      `${transferRuns} rounds (each turn the FETCH again until ${turnSeconds} s)`,
  );
}
