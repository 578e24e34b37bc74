import type { BenchUser } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import { logIn } from './imap-client.js';
import { commandTimeoutMs } from './logins.js';
import type { MailboxContents, TransferRun } from './mailbox.js';

const fetchTimeoutMs = 120_000;

/**
 * Logs in, selects INBOX and times `FETCH 1:* BODY.PEEK[]` up to its tagged OK. A mailbox of
 * another size, a FETCH response missing or a byte short is an error.
 */
export async function fetchAll(
  endpoint: Endpoint,
  user: BenchUser,
  expected: MailboxContents,
): Promise<TransferRun> {
  const client = await logIn(endpoint, user);
  try {
    const select = await client.ok(
      'SELECT INBOX',
      `SELECT INBOX of ${user.address}`,
      commandTimeoutMs,
    );
    const exists = select.untagged
      .map((line) => /^\* (\d+) EXISTS$/i.exec(line)?.[1])
      .find((n) => n !== undefined);
    if (Number(exists) !== expected.messages) {
      throw new Error(`INBOX of ${user.address} has ${exists} messages, not ${expected.messages}`);
    }
    const bytesBefore = client.bytesReceived;
    const literalBefore = client.literalBytes;
    const started = performance.now();
    const done = await client.ok('FETCH 1:* BODY.PEEK[]', 'FETCH', fetchTimeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const responses = done.untagged.filter((line) => /^\* \d+ FETCH /i.test(line)).length;
    const literal = client.literalBytes - literalBefore;
    if (responses !== expected.messages || literal !== expected.bytes) {
      throw new Error(
        `short FETCH on port ${endpoint.port}: ${responses} of ${expected.messages} messages, ` +
          `${literal} of ${expected.bytes} bytes`,
      );
    }
    const bytes = client.bytesReceived - bytesBefore;
    await client.logout(commandTimeoutMs);
    return { bytes, seconds };
  } finally {
    client.destroy();
  }
}
