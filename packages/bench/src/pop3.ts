/** The POP3 part: RETR throughput of every side (logins are in login-rows.ts). */
import type { BenchUser, Cluster } from './cluster.js';
import type { MailboxContents } from './mailbox.js';
import { retrieveAll } from './retr.js';
import { type Transport, transportNames } from './sides.js';
import { compareTransfers, transferRuns, turnSeconds } from './transfers.js';

/** `RETR n` of every message of the mailbox the FETCH runs use (see retr.ts). */
export async function retrRows(
  cluster: Cluster,
  user: BenchUser,
  mailbox: MailboxContents,
  transport: Transport,
): Promise<void> {
  const label = transport === 'plain' ? 'POP3 RETR MB/s' : 'POP3 RETR MB/s TLS';
  await compareTransfers(cluster, label, 'pop3', transport, (endpoint) =>
    retrieveAll(endpoint, user, mailbox),
  );
  console.log(
    `  RETR 1 to RETR ${mailbox.messages}, one after the other, of the same ` +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB, ${transportNames[transport]}; bytes received up ` +
      `to each terminating "."; one unmeasured run each side, then ${transferRuns} rounds ` +
      `(each turn all of them again until ${turnSeconds} s)`,
  );
}
