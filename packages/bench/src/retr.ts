import type { BenchUser } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import type { MailboxContents, TransferRun } from './mailbox.js';
import { pop3LogIn } from './pop3-client.js';

/**
 * Logs in with POP3 and times `RETR n` of every message, one after the other, from the first
 * command to the last body's terminating ".\r\n". A mailbox of another size, or a body that
 * unstuffed is not the size of the message Dovecot serves, is an error.
 */
export async function retrieveAll(
  endpoint: Endpoint,
  user: BenchUser,
  expected: MailboxContents,
): Promise<TransferRun> {
  const client = await pop3LogIn(endpoint, user);
  try {
    const stat = await client.ok('STAT', `STAT of ${user.address}`);
    const count = Number(/^\+OK (\d+) /.exec(stat.line)?.[1]);
    if (count !== expected.messages) {
      throw new Error(
        `maildrop of ${user.address} has ${count} messages, not ${expected.messages}`,
      );
    }
    const bytesBefore = client.bytesReceived;
    let messageBytes = 0;
    const started = performance.now();
    for (let n = 1; n <= count; n++) {
      const reply = await client.ok(`RETR ${n}`, `RETR ${n}`, true);
      messageBytes += reply.bodyBytes ?? 0;
    }
    const seconds = (performance.now() - started) / 1000;
    if (messageBytes !== expected.bytes) {
      throw new Error(
        `short RETR on port ${endpoint.port}: ${messageBytes} of ${expected.bytes} bytes in ${count} messages`,
      );
    }
    const bytes = client.bytesReceived - bytesBefore;
    await client.quit();
    return { bytes, seconds };
  } finally {
    client.destroy();
  }
}
