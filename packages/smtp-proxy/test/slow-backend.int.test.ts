import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Directory } from '@homing/directory';
import { freePort } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpListener } from '../src/index.js';
import { smtpListenerOptions } from './listener-options.js';
import { oneBackendDirectory } from './one-backend.js';
import { openReplyClient } from './server-side/reply-client.js';

/** Milliseconds the mailbox server stops reading after its first 354. */
const stallMs = 800;

/**
 * A mailbox server that speaks plain SMTP (no CHUNKING), keeps every message it is given, and
 * stops reading for a while right after its first 354, as a busy or slow server does.
 */
function stallingServer(messages: Buffer[]): Server {
  return createServer((socket) => {
    let data: Buffer[] | undefined;
    /** The last bytes of the message so far: its end may be split across reads. */
    let tail = Buffer.alloc(0);
    let stalled = false;
    socket.write('220 mbox ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      let rest = chunk;
      while (rest.length > 0) {
        if (data) {
          const probe = Buffer.concat([tail, rest]);
          const at = probe.indexOf('\r\n.\r\n');
          if (at < 0) {
            data.push(rest);
            tail = probe.subarray(Math.max(0, probe.length - 4));
            return;
          }
          const end = at + 5 - tail.length;
          data.push(rest.subarray(0, end));
          messages.push(Buffer.concat(data));
          data = undefined;
          rest = rest.subarray(end);
          socket.write('250 2.0.0 queued\r\n');
          continue;
        }
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return;
        const line = rest.toString('latin1', 0, lineEnd);
        rest = rest.subarray(lineEnd + 2);
        if (/^(EHLO|HELO)/i.test(line)) socket.write('250-mbox\r\n250 PIPELINING\r\n');
        else if (/^DATA/i.test(line)) {
          data = [];
          tail = Buffer.from('\r\n');
          socket.write('354 go ahead\r\n');
          if (!stalled) {
            stalled = true;
            socket.pause();
            setTimeout(() => socket.resume(), stallMs);
          }
        } else if (/^QUIT/i.test(line)) socket.end('221 2.0.0 bye\r\n');
        else socket.write('250 2.0.0 Ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
}

const dir = mkdtempSync(join(tmpdir(), 'homing-slow-backend-'));
const received: Buffer[] = [];
let backend: Server;
let listener: Server;
let directory: Directory;
let port = 0;

beforeAll(async () => {
  backend = stallingServer(received);
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as { port: number }).port;
  directory = await oneBackendDirectory(dir, backendPort);
  port = await freePort();
  listener = await startSmtpListener(
    smtpListenerOptions('mx', port, 'mx', directory, { maxMessageBytes: 64 * 1024 * 1024 }),
  );
});

afterAll(async () => {
  listener?.close();
  backend?.close();
  await directory?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A message body of about `bytes`, in lines no dot starts, so it is the same stuffed or not. */
function body(bytes: number, mark: string): string {
  const line = `${mark} ${'x'.repeat(70)}\r\n`;
  return line.repeat(Math.ceil(bytes / line.length));
}

describe('MX: a mailbox server that stops reading during a large message', () => {
  it('holds the client back, then delivers it whole, and the session reads the next message', async () => {
    const client = await openReplyClient(port);
    expect((await client.send('EHLO client.test\r\n'))[0]).toMatch(/^250/);
    await client.send('MAIL FROM:<sender@example.net>\r\n');
    await client.send('RCPT TO:<alice@example.com>\r\n');
    expect(await client.send('DATA\r\n')).toEqual([expect.stringMatching(/^354 /)]);
    // More than loopback's socket buffers on both hops can take while the server is not reading.
    const large = body(32 * 1024 * 1024, 'first');
    client.socket.write(`${large}.\r\n`);
    await new Promise((resolve) => setTimeout(resolve, stallMs / 2));
    // Back-pressure reached the client: part of the message is still in its own send queue.
    expect(client.socket.writableLength).toBeGreaterThan(0);
    expect(received).toHaveLength(0);
    const [first] = await client.replies(1);
    expect(first).toMatch(/^250 /);

    // The same session goes on with a second message once the first is done.
    const small = body(2000, 'second');
    await client.send('MAIL FROM:<sender@example.net>\r\n');
    await client.send('RCPT TO:<alice@example.com>\r\n');
    await client.send('DATA\r\n');
    expect(await client.send(`${small}.\r\n`)).toEqual([expect.stringMatching(/^250 /)]);
    expect(await client.send('QUIT\r\n')).toEqual([expect.stringMatching(/^221 /)]);

    expect(received).toHaveLength(2);
    const [bigCopy, smallCopy] = received.map((m) => m.toString('latin1'));
    // homing's own Received header, then the client's bytes, then the end.
    expect(bigCopy?.startsWith('Received: ')).toBe(true);
    expect(bigCopy?.endsWith(`\r\n${large}.\r\n`)).toBe(true);
    expect(smallCopy?.endsWith(`\r\n${small}.\r\n`)).toBe(true);
  }, 20_000);
});
