import type { Server } from 'node:net';
import type { Directory } from '@homing/directory';
import {
  type Credentials,
  defaultLimits,
  listen,
  noMetrics,
  passwordOf,
  ServerTls,
} from '@homing/proxy-core';
import { freePort, makeCertificates, RawClient, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientMessage } from '../../src/message-relay.js';
import { type EnvelopeHandler, SmtpSession } from '../../src/server-side/session.js';
import { sessionSetup } from '../../src/session-setup.js';
import { smtpError, smtpReplies } from '../../src/smtp-replies.js';
import { smtpListenerOptions } from '../listener-options.js';
import { openReplyClient } from './reply-client.js';

// The session's AUTH on its own, with a handler that knows one password and one token:
// submission's own logins (home, relay) are in postfix.int.test.ts.
const seen: Credentials[] = [];

class Handler implements EnvelopeHandler {
  async auth(credentials: Credentials): Promise<string> {
    seen.push(credentials);
    const good =
      'response' in credentials
        ? credentials.response.includes('good-token')
        : credentials.user === 'alice' && passwordOf(credentials) === 'secret';
    if (!good) throw smtpError(smtpReplies.authFailed);
    return 'alice@example.com';
  }
  async mail(): Promise<void> {}
  async rcpt(): Promise<void> {}
  async data(message: ClientMessage): Promise<string> {
    await new Promise<void>((resolve) =>
      message.read({ data: () => {}, end: resolve, abort: resolve }),
    );
    return '2.0.0 Ok: queued';
  }
  close(): void {}
}

const servers: Server[] = [];
// open: AUTH in the clear; strict: AUTH after TLS only; tls: AUTH in the clear, and STARTTLS.
const ports = { open: 0, strict: 0, tls: 0 };
const lineBytes = 512;
const dir = tempDir('smtp-auth');
const certs = makeCertificates(dir.path);

beforeAll(async () => {
  for (const name of ['open', 'strict', 'tls'] as const) {
    ports[name] = await freePort();
    const base = smtpListenerOptions(
      name,
      ports[name],
      'submission',
      undefined as unknown as Directory,
      {
        limits: { ...defaultLimits, lineBytes, failedLoginDelayMs: 50 },
      },
    );
    const options =
      name === 'tls'
        ? {
            ...base,
            spec: { ...base.spec, tls: 'starttls' as const },
            tls: new ServerTls([{ cert: certs.cert, key: certs.key }]),
          }
        : base;
    const setup = sessionSetup(options, {
      mechanisms: ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER'],
      plaintext: name !== 'strict',
    });
    servers.push(
      await listen({
        spec: options.spec,
        tls: options.tls,
        limits: options.limits,
        metrics: noMetrics,
        guard: undefined,
        refusal: '421 no',
        busy: '421 busy',
        log: options.log,
        onConnection: (connection) =>
          new SmtpSession(connection, setup, new Handler(), 'submission').start(),
      }),
    );
  }
});

afterAll(() => {
  for (const s of servers) s.close();
  dir.remove();
});

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const plain = (user: string, password: string) => b64(`\u0000${user}\u0000${password}`);

async function open(port = ports.open) {
  return openReplyClient(port);
}

describe('AUTH on a submission session', () => {
  it('is offered in EHLO, needed before MAIL, and not offered again once done', async () => {
    const c = await open();
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`)).toEqual([
      '503 5.5.1 Error: send HELO/EHLO first',
    ]);
    expect(await c.send('EHLO client.example\r\n')).toContain(
      '250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER',
    );
    expect(await c.send('MAIL FROM:<alice@example.com>\r\n')).toEqual([
      '530 5.7.0 Error: authentication Required',
    ]);
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`)).toEqual([
      '235 2.7.0 Authentication successful',
    ]);
    expect(seen.at(-1)).toEqual({
      mechanism: 'PLAIN',
      authzid: '',
      user: 'alice',
      password: 'secret',
    });
    expect((await c.send('EHLO client.example\r\n')).join('\n')).not.toMatch(/AUTH/);
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`)).toEqual([
      '503 5.5.1 Error: No identity changes permitted',
    ]);
    expect(
      await c.send('MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n', 3),
    ).toEqual(['250 2.1.0 Accepted', '250 2.1.5 Accepted', '354 End data with <CR><LF>.<CR><LF>']);
    expect(await c.send('Subject: x\r\n\r\nhello\r\n.\r\n')).toEqual(['250 2.0.0 Ok: queued']);
    c.close();
  });

  it('refuses AUTH in a transaction', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`);
    expect(await c.send('MAIL FROM:<alice@example.com>\r\n')).toEqual(['250 2.1.0 Accepted']);
    expect(await c.send('AUTH LOGIN\r\n')).toEqual([
      '503 5.5.1 Error: AUTH not permitted during a mail transaction',
    ]);
    c.close();
  });

  it('PLAIN with an empty challenge, and LOGIN with and without an initial response', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send(`${plain('alice', 'secret')}\r\n`)).toEqual([
      '235 2.7.0 Authentication successful',
    ]);
    c.close();
    for (const start of ['AUTH LOGIN\r\n', `AUTH LOGIN ${b64('alice')}\r\n`]) {
      const l = await open();
      await l.send('EHLO client.example\r\n');
      if (start === 'AUTH LOGIN\r\n') {
        expect(await l.send(start)).toEqual(['334 VXNlcm5hbWU6']);
        expect(await l.send(`${b64('alice')}\r\n`)).toEqual(['334 UGFzc3dvcmQ6']);
      } else expect(await l.send(start)).toEqual(['334 UGFzc3dvcmQ6']);
      expect(await l.send(`${b64('secret')}\r\n`)).toEqual(['235 2.7.0 Authentication successful']);
      // LOGIN reaches the login path as PLAIN without an authorization identity.
      expect(seen.at(-1)).toEqual({
        mechanism: 'PLAIN',
        authzid: '',
        user: 'alice',
        password: 'secret',
      });
      l.close();
    }
  });

  it('refuses wrong credentials, cancels, bad base64 and junk, and goes on', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'wrong')}\r\n`)).toEqual([
      '535 5.7.8 Authentication credentials invalid',
    ]);
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send('*\r\n')).toEqual(['501 5.7.0 Error: authentication aborted']);
    expect(await c.send('AUTH LOGIN\r\n')).toEqual(['334 VXNlcm5hbWU6']);
    expect(await c.send('*\r\n')).toEqual(['501 5.7.0 Error: authentication aborted']);
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send('not base64!\r\n')).toEqual(['501 5.5.2 Error: invalid base64 data']);
    // Lenient decoders take this (no padding); the SASL module does not.
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send('AGFsaWNlAHNlY3JldA\r\n')).toEqual([
      '501 5.5.2 Error: invalid base64 data',
    ]);
    expect(await c.send(`AUTH PLAIN ${b64('alice:secret')}\r\n`)).toEqual([
      '501 5.5.2 Error: invalid userdata',
    ]);
    expect(await c.send('AUTH LOGIN\r\n')).toEqual(['334 VXNlcm5hbWU6']);
    expect(await c.send('=\r\n')).toEqual(['501 5.5.2 Error: invalid base64 data']);
    expect(await c.send('AUTH CRAM-MD5\r\n')).toEqual([
      '504 5.5.4 Error: Unrecognized authentication type',
    ]);
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`)).toEqual([
      '235 2.7.0 Authentication successful',
    ]);
    c.close();
  });

  it('takes AUTH lines and SASL responses up to 12,288 octets, other lines up to the limit', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    // Past the listener's line limit, under RFC 4954's: read as AUTH (the wrong password, so 535).
    const long = b64(`\u0000alice\u0000${'x'.repeat(9000)}`);
    expect(long.length).toBeGreaterThan(lineBytes);
    expect(await c.send(`AUTH PLAIN ${long}\r\n`)).toEqual([
      '535 5.7.8 Authentication credentials invalid',
    ]);
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send(`${long}\r\n`)).toEqual(['535 5.7.8 Authentication credentials invalid']);
    expect(await c.send(`NOOP ${'x'.repeat(lineBytes * 2)}\r\n`)).toEqual([
      '500 5.5.2 Error: line too long',
    ]);
    c.close();
  });

  it('an overlong line ends the exchange', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    expect(await c.send(`AUTH PLAIN ${'A'.repeat(12289)}\r\n`)).toEqual([
      '500 5.5.2 Error: line too long',
    ]);
    expect(await c.send('AUTH PLAIN\r\n')).toEqual(['334 ']);
    expect(await c.send(`${'A'.repeat(12289)}\r\n`)).toEqual(['500 5.5.2 Error: line too long']);
    // The next line is a command again, not a SASL response.
    expect(await c.send('NOOP\r\n')).toEqual(['250 2.0.0 OK']);
    c.close();
  });

  it('OAuth: a good token logs in; a bad one or none gets the error challenge, then 535', async () => {
    const c = await open();
    await c.send('EHLO client.example\r\n');
    const xoauth2 = (token: string) => b64(`user=alice\u0001auth=Bearer ${token}\u0001\u0001`);
    expect(await c.send(`AUTH XOAUTH2 ${xoauth2('bad-token')}\r\n`)).toEqual([
      `334 ${b64('{"status":"401","schemes":"bearer"}')}`,
    ]);
    expect(await c.send('\r\n')).toEqual(['535 5.7.8 Authentication credentials invalid']);
    expect(
      await c.send(`AUTH OAUTHBEARER ${b64('n,,\u0001auth=Bearer x\u0001\u0001')}\r\n`),
    ).toEqual([`334 ${b64('{"status":"401","schemes":"bearer"}')}`]);
    expect(await c.send('\r\n')).toEqual(['535 5.7.8 Authentication credentials invalid']);
    expect(await c.send(`AUTH XOAUTH2 ${xoauth2('good-token')}\r\n`)).toEqual([
      '235 2.7.0 Authentication successful',
    ]);
    expect(seen.at(-1)).toMatchObject({ mechanism: 'XOAUTH2', user: 'alice' });
    c.close();
  });

  it('needs TLS first where plaintext AUTH is not allowed', async () => {
    const c = await open(ports.strict);
    await c.send('EHLO client.example\r\n');
    expect(await c.send(`AUTH PLAIN ${plain('alice', 'secret')}\r\n`)).toEqual([
      '538 5.7.11 Error: Must issue a STARTTLS command first',
    ]);
    expect(await c.send('AUTH LOGIN\r\n')).toEqual([
      '538 5.7.11 Error: Must issue a STARTTLS command first',
    ]);
    c.close();
  });

  it('is forgotten at STARTTLS (RFC 3207 §4.2): offered and needed again under TLS', async () => {
    const c = await RawClient.connect({ port: ports.tls });
    await c.until(/^220 /);
    c.send('EHLO client.example');
    await c.until(/^250 /);
    c.send(`AUTH PLAIN ${plain('alice', 'secret')}`);
    expect(await c.until(/^\d{3} /)).toEqual(['235 2.7.0 Authentication successful']);
    c.send('STARTTLS');
    await c.until(/^220 /);
    await c.startTls(certs.caCertPem);
    c.send('EHLO client.example');
    expect(await c.until(/^250 /)).toContain('250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER');
    c.send('MAIL FROM:<alice@example.com>');
    expect(await c.until(/^\d{3} /)).toEqual(['530 5.7.0 Error: authentication Required']);
    c.send(`AUTH PLAIN ${plain('alice', 'secret')}`);
    expect(await c.until(/^\d{3} /)).toEqual(['235 2.7.0 Authentication successful']);
    c.send('MAIL FROM:<alice@example.com>');
    expect(await c.until(/^\d{3} /)).toEqual(['250 2.1.0 Accepted']);
    c.close();
  });
});
