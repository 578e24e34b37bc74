import { randomBytes } from 'node:crypto';
import type { Dovecot } from '@homing/testkit';
import type { BenchUser } from './cluster.js';

/** What the INBOX holds, as IMAP FETCH BODY[] and POP3 RETR send it. */
export interface MailboxContents {
  readonly messages: number;
  /** Message bytes with CRLF line ends, without POP3's dot-stuffing. */
  readonly bytes: number;
}

/** One timed transfer of the whole mailbox. */
export interface TransferRun {
  /** Everything received from the first command to the last reply, framing included. */
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
    'A large attachment follows. The next lines start with a dot, which POP3 stuffs:',
    '.',
    '..',
    '.hidden',
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
