import type { Server } from 'node:net';
import { defaultLimits, SessionRegistry } from '@homing/proxy-core';
import { freePort } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpKind, startSmtpListener } from '../../src/index.js';
import { smtpListenerOptions } from '../listener-options.js';
import { unreachableDirectory } from '../unreachable-directory.js';
import { openReplyClient } from './reply-client.js';

// The session on its own: nothing here reaches a backend or the directory.
const directory = unreachableDirectory();
const servers: Server[] = [];
const ports = new Map<SmtpKind, number>();
const registry = new SessionRegistry();
const lineBytes = 512;

beforeAll(async () => {
  for (const kind of ['mx', 'lmtp'] as const) {
    const port = await freePort();
    ports.set(kind, port);
    servers.push(
      await startSmtpListener(
        smtpListenerOptions(kind, port, kind, directory, {
          limits: { ...defaultLimits, lineBytes },
          registry,
        }),
      ),
    );
  }
});

afterAll(async () => {
  for (const s of servers) s.close();
  await directory.close();
});

async function open(kind: SmtpKind = 'mx') {
  return openReplyClient(ports.get(kind) as number);
}

describe('an MX session on its own', () => {
  it('answers the small commands', async () => {
    const c = await open();
    expect((await c.send('EHLO client.example\r\n')).join('\n')).toMatch(
      /^250-homing\.test [^\n]*\n250-PIPELINING\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250 SIZE 100000$/,
    );
    expect(await c.send('NOOP\r\n')).toEqual(['250 2.0.0 OK']);
    expect((await c.send('HELP\r\n'))[0]).toMatch(/^214 /);
    expect((await c.send('VRFY alice\r\n'))[0]).toMatch(/^252 /);
    expect(await c.send('RSET\r\n')).toEqual(['250 2.0.0 Flushed']);
    expect((await c.send('STARTTLS\r\n'))[0]).toMatch(/^502 /);
    expect(await c.send('QUIT\r\n')).toEqual(['221 2.0.0 Bye']);
    await expect.poll(c.closed).toBe(true);
  });

  it('keeps the order of a transaction', async () => {
    const c = await open();
    expect((await c.send('MAIL FROM:<a@example.net>\r\n'))[0]).toMatch(/^503 5\.5\.1 .*HELO/);
    await c.send('EHLO client.example\r\n');
    expect((await c.send('RCPT TO:<b@example.com>\r\n'))[0]).toMatch(/^503 .*need MAIL/);
    expect((await c.send('DATA\r\n'))[0]).toMatch(/^503 .*need MAIL/);
    expect((await c.send('BDAT 4 LAST\r\nabcd'))[0]).toMatch(/^503 .*need MAIL/);
    expect(await c.send('MAIL FROM:<a@example.net>\r\n')).toEqual(['250 2.1.0 Accepted']);
    expect((await c.send('MAIL FROM:<a@example.net>\r\n'))[0]).toMatch(/^503 .*nested MAIL/);
    expect((await c.send('DATA\r\n'))[0]).toMatch(/^503 .*need RCPT/);
    // EHLO starts over: no transaction.
    await c.send('EHLO client.example\r\n');
    expect((await c.send('RCPT TO:<b@example.com>\r\n'))[0]).toMatch(/^503 .*need MAIL/);
    c.socket.destroy();
  });

  it('refuses malformed commands and goes on', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    expect((await c.send('MAIL FROM:a@example.net\r\n'))[0]).toMatch(/^501 5\.1\.7 /);
    expect((await c.send('MAIL FROM:<a@example.net> FOO=1\r\n'))[0]).toMatch(/^555 /);
    expect((await c.send('MAIL FROM:<a@example.net> SIZE=100001\r\n'))[0]).toMatch(/^552 5\.3\.4 /);
    expect((await c.send('NO\u0000OP\r\n'))[0]).toMatch(/^501 /);
    expect((await c.send(`NOOP ${'x'.repeat(lineBytes)}\r\n`))[0]).toMatch(/^500 .*too long/);
    // A line longer than the limit, in pieces: refused once, and what follows it is read.
    c.socket.write('x'.repeat(lineBytes + 10));
    expect((await c.replies())[0]).toMatch(/^500 .*too long/);
    expect(await c.send(`${'y'.repeat(100)}\r\nNOOP\r\n`)).toEqual(['250 2.0.0 OK']);
    expect(c.closed()).toBe(false);
    c.socket.destroy();
  });

  it('closes after too many unknown commands', async () => {
    const c = await open();
    const lines = await c.send('XYZZY\r\n'.repeat(10), 10);
    expect(lines.slice(0, 9)).toEqual(Array(9).fill('500 5.5.2 Error: command not recognized'));
    expect(lines[9]).toMatch(/^421 /);
    await expect.poll(c.closed).toBe(true);
  });

  it('closes on an HTTP request and on a BDAT it cannot follow', async () => {
    const web = await open();
    expect((await web.send('POST / HTTP/1.1\r\nHost: x\r\n\r\n'))[0]).toMatch(/^421 /);
    await expect.poll(web.closed).toBe(true);
    const chunked = await open();
    await chunked.send('EHLO client.example\r\n');
    expect((await chunked.send('BDAT 99999999999999999\r\n'))[0]).toMatch(/^501 /);
    await expect.poll(chunked.closed).toBe(true);
  });

  it('a drain closes a session between transactions with 421', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    registry.drain();
    expect((await c.replies())[0]).toMatch(/^421 4\.3\.2 homing\.test Service shutting down/);
    await expect.poll(c.closed).toBe(true);
  });
});

describe('an LMTP session on its own', () => {
  it('takes LHLO, not HELO or EHLO', async () => {
    const c = await open('lmtp');
    expect((await c.send('EHLO client.example\r\n'))[0]).toMatch(/^500 /);
    expect((await c.send('HELO client.example\r\n'))[0]).toMatch(/^500 /);
    expect((await c.send('MAIL FROM:<a@example.net>\r\n'))[0]).toMatch(/^503 .*LHLO/);
    expect((await c.send('LHLO client.example\r\n')).at(-1)).toBe('250 SIZE 100000');
    c.socket.destroy();
  });
});
