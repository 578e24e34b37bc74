/** The IMAP part: memory per idle spliced session, logins per second, FETCH throughput. */
import type { BenchUser, Cluster } from './cluster.js';
import { dovecotSessionCapacity } from './dovecot-limits.js';
import { fetchAll } from './fetch.js';
import { idleSessionMemory, planSessions, type Settled } from './idle.js';
import { type ImapClient, imapLoginCycle } from './imap-client.js';
import { compareLogins, warmUp } from './logins.js';
import { fillMailbox, type MailboxContents } from './mailbox.js';
import { cpuPerMB, mebibytes, percent, throughputRow } from './report.js';
import { pairTurns, sleep, slicesPerSide, takeTurns } from './turns.js';

const idleBatch = 50;
const fetchMessages = 200;
const fetchMessageBytes = 256 * 1024;
const fetchRuns = 5;

/** Every user logs in once direct and once through homing (directory cache, code paths). */
export async function imapWarmUp(
  { ports }: Cluster,
  users: readonly BenchUser[],
  concurrency: number,
): Promise<void> {
  await warmUp((user) => imapLoginCycle(ports.imap.direct, user), users, concurrency);
  await warmUp((user) => imapLoginCycle(ports.imap.homing, user), users, concurrency);
}

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
  const plan = planSessions(wanted, homing, capacity);
  for (const note of plan.notes) {
    console.log(`note: ${wanted} idle sessions wanted; ${note}`);
  }
  if (plan.sessions < 1) throw new Error('no room for idle sessions');
  const memory = await idleSessionMemory(
    homing,
    ports.imap.homing,
    users,
    plan.sessions,
    idleBatch,
    open,
  );
  console.log(
    `idle spliced session: ${memory.perSessionKiB.toFixed(1)} KiB RSS each ` +
      `(${memory.sessions} sessions, ${idleBatch} logging in at a time; homing VmRSS settled ` +
      `${mebibytes(memory.rssBeforeKiB)} -> ${mebibytes(memory.rssAfterKiB)} MiB, ` +
      `${mebibytes(memory.rssPeakKiB)} MiB a second after the last login)`,
  );
  const [before, after] = memory.settled;
  const settle = (s: Settled) => (s.dropped ? `${s.seconds} s` : `not within ${s.seconds} s`);
  console.log(
    `  settled: after a full GC in homing, until V8's memory reducer gave unused heap back ` +
      `(before ${settle(before)}, after ${settle(after)}); the least RSS counts`,
  );
  console.log('  no direct figure: Dovecot runs a process per IMAP session, not comparable');
  for (const client of open.splice(0)) client.destroy();
  await sleep(3000); // Dovecot's session processes exit
}

export async function imapLogins(
  { homing, ports }: Cluster,
  users: readonly BenchUser[],
  concurrencyLevels: readonly number[],
  seconds: number,
  pauseMs: number,
): Promise<void> {
  console.log(
    `IMAP: one login = connect, greeting, LOGIN, SELECT INBOX, LOGOUT (waiting for the close); ` +
      `users in turn; ${seconds} s each side per level, in ${slicesPerSide} slices taking turns`,
  );
  await compareLogins(homing, {
    protocol: 'IMAP',
    cycles: {
      direct: (user) => imapLoginCycle(ports.imap.direct, user),
      homing: (user) => imapLoginCycle(ports.imap.homing, user),
    },
    users,
    concurrencyLevels,
    seconds,
    pauseMs,
  });
}

/**
 * Fills the user's INBOX with about 52 MB and compares `FETCH 1:* BODY.PEEK[]` of it. Returns
 * what the INBOX holds, for the POP3 RETR runs on the same mail.
 */
export async function fetchThroughput(
  { dovecot, homing, ports }: Cluster,
  user: BenchUser,
): Promise<MailboxContents> {
  const mailbox = fillMailbox(dovecot, user, fetchMessages, fetchMessageBytes);
  await fetchAll(ports.imap.direct, user, mailbox); // Dovecot indexes the new mail; pages cached
  const { results, usage } = await takeTurns(homing, pairTurns(fetchRuns), (side) =>
    fetchAll(ports.imap[side], user, mailbox),
  );
  console.log(
    throughputRow('IMAP FETCH MB/s', results.direct, results.homing, [
      `median of ${fetchRuns}`,
      `homing CPU ${cpuPerMB(usage.homing.homingCpuMs, results.homing)} ms/MB`,
      `CPUs busy ${percent(usage.direct.machineBusy)} / ${percent(usage.homing.machineBusy)}`,
    ]),
  );
  console.log(
    `  FETCH 1:* BODY.PEEK[] of ${mailbox.messages} messages, ` +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB (MB = 10^6 bytes), after one unmeasured FETCH`,
  );
  return mailbox;
}
