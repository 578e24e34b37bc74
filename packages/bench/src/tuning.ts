/**
 * Why the bench's Dovecot is tuned: the same users on a Dovecot as the testkit starts it by
 * default (a login process and an imap process forked for every login) against the bench's
 * tuned one, IMAP logins straight to each. A proxy in front of the untuned one looks free.
 */
import { Dovecot } from '@homing/testkit';
import type { BenchUser, Cleanup, Cluster } from './cluster.js';
import { imapLoginCycle } from './imap-client.js';
import { loginRate, loginSample, warmUp } from './logins.js';
import { rate } from './report.js';

const concurrency = 50;

export async function tuningRow(
  cluster: Cluster,
  users: readonly BenchUser[],
  seconds: number,
  cleanup: Cleanup,
): Promise<void> {
  const untuned = await Dovecot.start({
    name: 'A',
    users: users.map((u) => ({ user: u.address, password: u.password })),
  });
  cleanup.add(() => untuned.destroy());
  const perSecond = async (port: number) => {
    const cycle = (user: BenchUser) => imapLoginCycle({ port }, user);
    await warmUp(cycle, users, 8);
    return loginRate([await loginSample(cycle, users, concurrency, seconds, { user: 0 })])
      .perSecond;
  };
  const forking = await perSecond(untuned.imapPort);
  const tuned = await perSecond(cluster.ports.imap.direct);
  await untuned.destroy();
  console.log(
    `direct IMAP logins/s, ${concurrency} at a time: Dovecot with its defaults (a process forked ` +
      `per login) ${rate(forking)}, tuned as the bench runs it ${rate(tuned)} ` +
      `(${(tuned / forking).toFixed(1)}×)`,
  );
}
