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
 * which setting says so: `total` for all of them, `perAddress` for those from one client
 * address. Each `imap` process holds client_limit sessions (1 by Dovecot's default, 50 in the
 * tuned one) and one connection to the stats service; so does each login process, which is one
 * per login in flight when imap-login forks per login (service_count 1), and otherwise the
 * process_min_avail it keeps. 0 in a service limit means the default_* value. Each user may
 * have mail_max_userip_connections from one IP.
 */
export function dovecotSessionCapacity(
  dovecot: Dovecot,
  loggingIn: number,
  users: number,
): { total: Limit; perAddress: Limit } {
  const processDefault = setting(dovecot, 'default_process_limit');
  const clientDefault = setting(dovecot, 'default_client_limit');
  const imapProcesses = setting(dovecot, 'service/imap/process_limit') || processDefault;
  const perProcess = setting(dovecot, 'service/imap/client_limit') || clientDefault;
  const statsClients = setting(dovecot, 'service/stats/client_limit') || clientDefault;
  const loginForks = setting(dovecot, 'service/imap-login/service_count') === 1;
  const loginProcesses = loginForks
    ? loggingIn
    : setting(dovecot, 'service/imap-login/process_min_avail');
  const perUser = setting(dovecot, 'mail_max_userip_connections');
  // A few stats clients are neither: the auth process, the pop3 and lmtp processes and the like.
  const otherStatsClients = 20;
  const statsRoom = statsClients - loginProcesses - otherStatsClients;
  const candidates = [
    {
      sessions: imapProcesses * perProcess,
      why: `Dovecot service imap process_limit is ${imapProcesses}, client_limit ${perProcess}`,
    },
    {
      sessions: statsRoom * perProcess,
      why:
        `Dovecot service stats client_limit is ${statsClients} (one per imap process of ` +
        `${perProcess} sessions), shared with ${loginProcesses} login processes`,
    },
  ];
  return {
    total: candidates.reduce((a, b) => (b.sessions < a.sessions ? b : a)),
    perAddress: {
      sessions: perUser * users,
      why: `Dovecot mail_max_userip_connections is ${perUser} for each of ${users} users`,
    },
  };
}

export interface Limit {
  readonly sessions: number;
  readonly why: string;
}
