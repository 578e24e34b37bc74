/** The IMAP part: memory per idle spliced session (homing), FETCH throughput of every side. */
import type { BenchUser, Cluster } from './cluster.js';
import { dovecotSessionCapacity } from './dovecot-limits.js';
import { fetchAll } from './fetch.js';
import { idleSessionMemory, planSessions, type Settled } from './idle.js';
import type { ImapClient } from './imap-client.js';
import { fillMailbox, type MailboxContents } from './mailbox.js';
import { mebibytes } from './report.js';
import { type Transport, transportNames } from './sides.js';
import { compareTransfers, transferRuns } from './transfers.js';
import { sleep } from './turns.js';

const idleBatch = 50;
/** Logins homing serves before the idle sessions are measured (its heap grown as in use). */
const servedFirst = 1000;
const fetchMessages = 200;
const fetchMessageBytes = 256 * 1024;

/**
 * homing's RSS per idle spliced IMAP session. The sessions are kept in `open` until they are
 * measured, then closed; the caller closes what is left there on an error.
 */
export async function idleSessions(
  { dovecot, homing, ports }: Cluster,
  users: readonly BenchUser[],
  wanted: number,
  open: ImapClient[],
): Promise<void> {
  const capacity = dovecotSessionCapacity(dovecot, idleBatch, users.length);
  const plan = planSessions(wanted, homing, capacity, idleBatch);
  for (const note of plan.notes) {
    console.log(`note: ${wanted} idle sessions wanted; ${note}`);
  }
  if (plan.sessions < 1) throw new Error('no room for idle sessions');
  const memory = await idleSessionMemory(
    homing,
    ports.imap.homing,
    users,
    { count: plan.sessions, served: servedFirst, batch: idleBatch },
    open,
  );
  console.log(
    `idle spliced session: ${memory.perSessionKiB.toFixed(1)} KiB RSS each ` +
      `(${(memory.usedPerSession / 1024).toFixed(1)} KiB less V8's committed but unused ` +
      `heap), ${(memory.heapPerSession / 1024).toFixed(1)} KiB of it V8 heap ` +
      `(${memory.sessions} sessions, ${idleBatch} logging in at a time, after ${memory.served} ` +
      `logins served; homing VmRSS settled ` +
      `${mebibytes(memory.rssBeforeKiB)} -> ${mebibytes(memory.rssAfterKiB)} MiB, ` +
      `${mebibytes(memory.rssPeakKiB)} MiB a second after the last login; heap used ` +
      `${mebibytes(memory.heapBefore / 1024)} -> ${mebibytes(memory.heapAfter / 1024)} MiB)`,
  );
  const [before, after] = memory.settled;
  const settle = (s: Settled) => (s.dropped ? `${s.seconds} s` : `not within ${s.seconds} s`);
  console.log(
    `  settled: after a full GC in homing, until V8's memory reducer gave unused heap back ` +
      `(before ${settle(before)}, after ${settle(after)}); the least RSS counts`,
  );
  console.log('  homing only: Dovecot holds a session in an imap process, not comparable');
  for (const client of open.splice(0)) client.destroy();
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
      `${transferRuns} rounds`,
  );
}
