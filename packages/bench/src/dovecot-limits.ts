import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Dovecot } from '@homing/testkit';

/** One of Dovecot's settings as the running config has it (doveconf -h). */
function setting(dovecot: Dovecot, name: string): number {
  const value = execFileSync('doveconf', ['-c', join(dovecot.path, 'dovecot.conf'), '-h', name], {
    encoding: 'utf8',
  }).trim();
  const number = Number(value);
  if (!Number.isInteger(number)) throw new Error(`doveconf ${name}: ${JSON.stringify(value)}`);
  return number;
}

/**
 * How many logged-in IMAP sessions this Dovecot holds while `loggingIn` more are logging in, and
 * which setting says so. Each session is one `imap` process (client_limit 1) that keeps a
 * connection to the stats service; each login process in flight holds one more. 0 in a service
 * limit means the default_* value. Each user may have mail_max_userip_connections from one IP.
 */
export function dovecotSessionCapacity(
  dovecot: Dovecot,
  loggingIn: number,
  users: number,
): { sessions: number; why: string } {
  const processDefault = setting(dovecot, 'default_process_limit');
  const clientDefault = setting(dovecot, 'default_client_limit');
  const imapProcesses = setting(dovecot, 'service/imap/process_limit') || processDefault;
  const statsClients = setting(dovecot, 'service/stats/client_limit') || clientDefault;
  const perUser = setting(dovecot, 'mail_max_userip_connections');
  // A few stats clients are not sessions: the auth process and the like.
  const otherStatsClients = 10;
  const candidates = [
    { sessions: imapProcesses, why: `Dovecot service imap process_limit is ${imapProcesses}` },
    {
      sessions: statsClients - loggingIn - otherStatsClients,
      why: `Dovecot service stats client_limit is ${statsClients} (default_client_limit ${clientDefault}), shared with ${loggingIn} logins in flight`,
    },
    {
      sessions: perUser * users,
      why: `Dovecot mail_max_userip_connections is ${perUser} for each of ${users} users`,
    },
  ];
  return candidates.reduce((a, b) => (b.sessions < a.sessions ? b : a));
}
