import { randomBytes } from 'node:crypto';
import type { Dovecot } from '@homing/testkit';
import type { BenchUser } from './cluster.js';
import { commandTimeoutMs, logIn } from './logins.js';

const fetchTimeoutMs = 120_000;

/** What a complete `FETCH 1:* BODY.PEEK[]` of the mailbox returns. */
export interface MailboxContents {
  readonly messages: number;
  /** Message bytes as IMAP sends them (CRLF line ends). */
  readonly bytes: number;
}

export interface FetchRun {
  /** Everything received from sending FETCH to its tagged OK, framing included. */
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * Delivers `count` messages of about `size` bytes (a base64 attachment of random bytes) into the
 * user's INBOX and returns what the INBOX then holds, counted from the files Dovecot will serve.
 */
export function fillMailbox(
  dovecot: Dovecot,
  user: BenchUser,
  count: number,
  size: number,
): MailboxContents {
  for (let i = 0; i < count; i++) dovecot.deliverRaw(user.address, bigMessage(user, i, size));
  const stored = dovecot.readMessages(user.address);
  let bytes = 0;
  for (const text of stored) bytes += Buffer.byteLength(text.replace(/\r?\n/g, '\r\n'), 'latin1');
  return { messages: stored.length, bytes };
}

/**
 * Logs in, selects INBOX and times `FETCH 1:* BODY.PEEK[]` up to its tagged OK. A mailbox of
 * another size, a FETCH response missing or a byte short is an error.
 */
export async function fetchAll(
  port: number,
  user: BenchUser,
  expected: MailboxContents,
): Promise<FetchRun> {
  const client = await logIn(port, user);
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
        `short FETCH on port ${port}: ${responses} of ${expected.messages} messages, ` +
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

function bigMessage(user: BenchUser, index: number, size: number): string {
  const boundary = `bench-${index}`;
  const head = [
    'From: homing bench <bench@example.com>',
    `To: ${user.address}`,
    `Subject: bench message ${index + 1}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <bench-${index}@bench.example.com>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'A large attachment follows.',
    '',
    `--${boundary}`,
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="data-${index}.bin"`,
    '',
  ];
  const headBytes = head.join('\r\n').length + 2;
  // base64 lines of 76 characters + CRLF carry 57 bytes each.
  const lines = Math.max(1, Math.round((size - headBytes) / 78));
  const encoded = randomBytes(lines * 57).toString('base64');
  const body: string[] = [];
  for (let at = 0; at < encoded.length; at += 76) body.push(encoded.slice(at, at + 76));
  return [...head, ...body, `--${boundary}--`, ''].join('\r\n');
}
