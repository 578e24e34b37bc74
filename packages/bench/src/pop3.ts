/** The POP3 part: logins per second and RETR throughput, direct and through homing. */
import type { BenchUser, Cluster } from './cluster.js';
import { compareLogins, warmUp } from './logins.js';
import type { MailboxContents } from './mailbox.js';
import { pop3LoginCycle } from './pop3-client.js';
import { cpuPerMB, percent, throughputRow } from './report.js';
import { retrieveAll } from './retr.js';
import { pairTurns, slicesPerSide, takeTurns } from './turns.js';

const retrRuns = 5;

export async function pop3Logins(
  { homing, ports }: Cluster,
  users: readonly BenchUser[],
  concurrencyLevels: readonly number[],
  seconds: number,
  pauseMs: number,
  warmUpConcurrency: number,
): Promise<void> {
  const cycles = {
    direct: (user: BenchUser) => pop3LoginCycle(ports.pop3.direct, user),
    homing: (user: BenchUser) => pop3LoginCycle(ports.pop3.homing, user),
  };
  await warmUp(cycles.direct, users, warmUpConcurrency);
  await warmUp(cycles.homing, users, warmUpConcurrency);
  console.log(
    'POP3: one login = connect, greeting, USER, PASS, STAT, QUIT (waiting for the close); ' +
      `users in turn, each logged in once both ways first; ${seconds} s each side per level, ` +
      `in ${slicesPerSide} slices taking turns`,
  );
  await compareLogins(homing, {
    protocol: 'POP3',
    cycles,
    users,
    concurrencyLevels,
    seconds,
    pauseMs,
  });
}

/** `RETR n` of every message of the mailbox the FETCH runs used (see retr.ts). */
export async function retrThroughput(
  { homing, ports }: Cluster,
  user: BenchUser,
  mailbox: MailboxContents,
): Promise<void> {
  await retrieveAll(ports.pop3.direct, user, mailbox); // POP3's sizes and UIDLs indexed
  const { results, usage } = await takeTurns(homing, pairTurns(retrRuns), (side) =>
    retrieveAll(ports.pop3[side], user, mailbox),
  );
  console.log(
    throughputRow('POP3 RETR MB/s', results.direct, results.homing, [
      `median of ${retrRuns}`,
      `homing CPU ${cpuPerMB(usage.homing.homingCpuMs, results.homing)} ms/MB`,
      `CPUs busy ${percent(usage.direct.machineBusy)} / ${percent(usage.homing.machineBusy)}`,
    ]),
  );
  console.log(
    `  RETR 1 to RETR ${mailbox.messages}, one after the other, of the same ` +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB; bytes received up to each terminating ".", ` +
      'after one unmeasured run',
  );
}
