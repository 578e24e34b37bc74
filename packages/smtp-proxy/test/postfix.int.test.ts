import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  encodeProxyV2,
  type ListenerSpec,
  noMetrics,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import {
  Dovecot,
  freePort,
  makeCertificates,
  Postfix,
  RawClient,
  Slapd,
  tempDir,
} from '@homing/testkit';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpListenerOptions, startSmtpListener } from '../src/index.js';

// store: the mailboxes; postfix: relays to them (XCLIENT, SMTPUTF8, DSN); front: Dovecot's own
// submission service, the "home" of alice for submission, relaying through postfix.
const dir = tempDir('smtp-postfix');
const certs = makeCertificates(dir.path);
let slapd: Slapd;
let store: Dovecot;
let postfix: Postfix;
let front: Dovecot;
let directory: Directory;
const servers: Server[] = [];
const ports = { mx: 0, relay: 0, relayProxied: 0, home: 0, strict: 0 };

const marker = () => `m-${randomUUID()}`;
const logLines: string[] = [];
const delivered = (user: string, id: string) =>
  store.readMessages(user).filter((m) => m.includes(id));

beforeAll(async () => {
  [slapd, store] = await Promise.all([
    Slapd.start([
      { uid: 'alice', mail: 'alice@example.com', password: 'alice-ldap-pw', mailHost: 'mbox-p' },
      { uid: 'bob', mail: 'bob@example.com', password: 'bob-ldap-pw', mailHost: 'mbox-p' },
    ]),
    Dovecot.start({
      name: 'store',
      users: [
        { user: 'alice@example.com', password: 'alice-pw' },
        { user: 'bob@example.com', password: 'bob-pw' },
      ],
    }),
  ]);
  postfix = await Postfix.start({
    name: 'relay',
    domains: ['example.com'],
    relayTo: { host: '127.0.0.1', port: store.lmtpPort, lmtp: true },
  });
  front = await Dovecot.start({
    name: 'front',
    users: [{ user: 'alice@example.com', password: 'alice-pw' }],
    submission: { relayHost: '127.0.0.1', relayPort: postfix.port },
  });
  const tls = { verify: true, caFile: certs.caCert };
  const catalog = new Catalog({
    backends: {
      'mbox-p': {
        host: '127.0.0.1',
        endpoints: {
          smtp: { port: postfix.port, tls: 'none', forward: 'xclient' },
          submission: { port: front.submissionPort as number, tls: 'none', forward: 'none' },
        },
        tls,
      },
    },
    literalDefaults: {},
    literalTls: tls,
    allowLiteral: false,
  });
  directory = new Directory({
    source: new LdapSource({
      ...slapd.sourceOptions(),
      timeoutMs: 1000,
      connectTimeoutMs: 500,
      filter: '(|(uid={address})(mail={address}))',
    }),
    catalog,
    rules: defaultAddressRules,
    cache: { maxEntries: 100, ttlMs: 60_000, negativeTtlMs: 0, staleIfErrorMs: 60_000 },
  });
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
  const spec = (name: keyof typeof ports, proxy = false): ListenerSpec => ({
    name,
    host: '127.0.0.1',
    port: ports[name],
    tls: 'starttls',
    proxyProtocol: proxy,
    trustedProxies: new AddressSet(proxy ? ['127.0.0.0/8'] : []),
  });
  const common: Omit<SmtpListenerOptions, 'spec' | 'kind'> = {
    directory,
    health: new BackendHealth({ backoffMinMs: 100, backoffMaxMs: 200 }),
    limits: { ...defaultLimits, failedLoginDelayMs: 600 },
    registry: new SessionRegistry(),
    tls: new ServerTls([{ cert: certs.cert, key: certs.key }]),
    hostname: 'homing.test',
    maxMessageBytes: 1_000_000,
    maxRecipients: 10,
    maxReceived: 30,
    policy: 'single',
    smtputf8: true,
    dsn: true,
    isOwnAddress: () => false,
    metrics: noMetrics,
    log: pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) }),
  };
  const submission = (mode: 'home' | 'relay', allowPlaintext: boolean) => ({
    mode,
    allowPlaintext,
    oauth: false,
    smarthost: { host: '127.0.0.1', port: postfix.port, tls: 'none' as const, verify: true },
  });
  servers.push(
    await startSmtpListener({ ...common, spec: spec('mx'), kind: 'mx' }),
    await startSmtpListener({
      ...common,
      spec: spec('relayProxied', true),
      kind: 'submission',
      submission: submission('relay', true),
    }),
    await startSmtpListener({
      ...common,
      spec: spec('relay'),
      kind: 'submission',
      submission: submission('relay', true),
    }),
    await startSmtpListener({
      ...common,
      spec: spec('home'),
      kind: 'submission',
      submission: submission('home', true),
    }),
    await startSmtpListener({
      ...common,
      spec: spec('strict'),
      kind: 'submission',
      submission: submission('relay', false),
    }),
  );
});

afterAll(async () => {
  for (const s of servers) s.close();
  await directory?.close();
  await Promise.all([slapd?.destroy(), store?.destroy(), postfix?.destroy(), front?.destroy()]);
  dir.remove();
});

function submit(port: number, user: string, pass: string) {
  const options: SMTPTransport.Options = {
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    auth: { user, pass },
  };
  return nodemailer.createTransport(options);
}

describe('MX to a Postfix backend', () => {
  async function transaction(lines: [string, RegExp][], body: string) {
    const client = await RawClient.connect({ port: ports.mx });
    await client.until(/^220 /);
    client.send('EHLO sender.example.net');
    const ehlo = (await client.until(/^250 /)).join('\n');
    for (const [line, reply] of lines) {
      client.write(Buffer.from(`${line}\r\n`, 'utf8'));
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(reply);
    }
    client.write(Buffer.from(`${body}\r\n.\r\n`, 'utf8'));
    const last = (await client.until(/^\d{3} /)).at(-1);
    client.send('QUIT');
    return { ehlo, last };
  }

  it('SMTPUTF8 reaches the backend', async () => {
    const id = marker();
    const { ehlo, last } = await transaction(
      [
        ['MAIL FROM:<jörg@exämple.net> SMTPUTF8', /^250 /],
        ['RCPT TO:<alice@example.com>', /^250 /],
        ['DATA', /^354 /],
      ],
      `Subject: ${id}\r\n\r\nGrüße`,
    );
    expect(ehlo).toMatch(/SMTPUTF8/);
    expect(last).toMatch(/^250 /);
    // Postfix took the UTF-8 sender as SMTPUTF8 mail: it insists on SMTPUTF8 further on (and
    // Dovecot 2.3's LMTP has none, which is why homing offers SMTPUTF8 only when told to).
    await expect
      .poll(() => Buffer.from(postfix.log(), 'latin1').toString('utf8'), { timeout: 10_000 })
      .toMatch(/from=<j\S+rg@ex\S+mple\.net>/);
    await expect.poll(() => postfix.log(), { timeout: 10_000 }).toMatch(/SMTPUTF8 is required/);
  });

  it('DSN parameters reach the backend, and XCLIENT tells it the client', async () => {
    const id = marker();
    const { ehlo, last } = await transaction(
      [
        ['MAIL FROM:<sender@example.com> RET=HDRS ENVID=env-42', /^250 /],
        ['RCPT TO:<alice@example.com> NOTIFY=SUCCESS ORCPT=rfc822;alice@example.com', /^250 /],
        ['DATA', /^354 /],
      ],
      `Subject: ${id}\r\n\r\nhello`,
    );
    expect(ehlo).toMatch(/DSN/);
    expect(last).toMatch(/^250 /);
    await expect.poll(() => delivered('alice@example.com', id).length, { timeout: 10_000 }).toBe(1);
    // NOTIFY=SUCCESS: Postfix reports the delivery to the sender, so the DSN request arrived.
    await expect
      .poll(() => postfix.log(), { timeout: 10_000 })
      .toMatch(/sender delivery status notification/);
    // With XCLIENT, Postfix's trace names the client's HELO, not homing.
    expect(delivered('alice@example.com', id)[0]).toMatch(
      /Received: from sender\.example\.net \(unknown \[127\.0\.0\.1\]\)/,
    );
  });
});

describe('submission, relay mode: password checked by LDAP bind, mail to the smarthost', () => {
  it('accepts the LDAP password and tells Postfix the user with XCLIENT LOGIN', async () => {
    const id = marker();
    const info = await submit(ports.relay, 'alice@example.com', 'alice-ldap-pw').sendMail({
      from: 'alice@example.com',
      to: 'bob@example.com',
      subject: id,
      text: 'relayed',
    });
    expect(info.accepted).toEqual(['bob@example.com']);
    await expect.poll(() => delivered('bob@example.com', id).length, { timeout: 10_000 }).toBe(1);
    expect(postfix.log()).toContain('sasl_username=alice@example.com');
  });

  it.each([
    ['a wrong password', 'alice@example.com', 'alice-pw'],
    ['an unknown user', 'nobody@example.com', 'whatever'],
  ])('refuses %s with the same reply', async (_name, user, pass) => {
    const error = (await submit(ports.relay, user, pass)
      .sendMail({ from: user, to: 'bob@example.com', subject: 'x', text: 'x' })
      .catch((e: unknown) => e)) as { responseCode?: number; response?: string };
    expect(error.responseCode).toBe(535);
    expect(error.response).toBe('535 5.7.8 Authentication credentials invalid');
  });

  it('requires AUTH before MAIL: no open relay', async () => {
    const client = await RawClient.connect({
      port: ports.relayProxied,
      preamble: Buffer.from('PROXY TCP4 192.0.2.61 127.0.0.1 5000 587\r\n'),
    });
    await client.until(/^220 /);
    client.send('EHLO x');
    await client.until(/^250 /);
    client.send('MAIL FROM:<a@example.net>');
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^530 /);
    client.close();
  });

  it('refuses AUTH before STARTTLS where plaintext is not allowed, and accepts it after', async () => {
    const client = await RawClient.connect({ port: ports.strict });
    await client.until(/^220 /);
    client.send('EHLO x');
    await client.until(/^250 /);
    const plain = Buffer.from('\u0000alice@example.com\u0000alice-ldap-pw').toString('base64');
    client.send(`AUTH PLAIN ${plain}`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^538 /);
    client.send('STARTTLS');
    await client.until(/^220 /);
    await client.startTls(certs.caCertPem);
    client.send('EHLO x');
    await client.until(/^250 /);
    client.send(`AUTH PLAIN ${plain}`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^235 /);
    client.close();
  });

  it("passes the PROXY header's client address to the smarthost", async () => {
    const id = marker();
    const client = await RawClient.connect({
      port: ports.relayProxied,
      preamble: encodeProxyV2(
        { address: '192.0.2.62', port: 5001 },
        { address: '127.0.0.1', port: 587 },
      ),
    });
    await client.until(/^220 /);
    const plain = Buffer.from('\u0000bob@example.com\u0000bob-ldap-pw').toString('base64');
    for (const [line, reply] of [
      ['EHLO laptop.example.net', /^250 /],
      [`AUTH PLAIN ${plain}`, /^235 /],
      ['MAIL FROM:<bob@example.com>', /^250 /],
      ['RCPT TO:<alice@example.com>', /^250 /],
      ['DATA', /^354 /],
    ] as const) {
      client.send(line);
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(reply);
    }
    client.write(`Subject: ${id}\r\n\r\nx\r\n.\r\n`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.close();
    await expect.poll(() => delivered('alice@example.com', id).length, { timeout: 10_000 }).toBe(1);
    expect(delivered('alice@example.com', id)[0]).toContain('[192.0.2.62]');
  });
  it('takes a message in BDAT chunks (CHUNKING) and hands it on', async () => {
    const id = marker();
    const client = await RawClient.connect({ port: ports.relay });
    await client.until(/^220 /);
    client.send('EHLO laptop.example.net');
    expect((await client.until(/^250 /)).join('\n')).toMatch(/CHUNKING/);
    const plain = Buffer.from('\u0000bob@example.com\u0000bob-ldap-pw').toString('base64');
    for (const [line, reply] of [
      [`AUTH PLAIN ${plain}`, /^235 /],
      ['MAIL FROM:<bob@example.com>', /^250 /],
      ['RCPT TO:<alice@example.com>', /^250 /],
    ] as const) {
      client.send(line);
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(reply);
    }
    const first = `Subject: ${id}\r\n\r\n`;
    const last = '.a line with a dot\r\n';
    client.write(`BDAT ${first.length}\r\n${first}`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.write(`BDAT ${last.length} LAST\r\n${last}`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.close();
    await expect.poll(() => delivered('alice@example.com', id).length, { timeout: 10_000 }).toBe(1);
    expect(delivered('alice@example.com', id)[0]).toContain('\n.a line with a dot');
  });
});

describe("submission, home mode: AUTH replayed on the user's home submission service", () => {
  it('accepts the password the home server knows and delivers through it', async () => {
    const id = marker();
    const info = await submit(ports.home, 'alice@example.com', 'alice-pw').sendMail({
      from: 'alice@example.com',
      to: 'bob@example.com',
      subject: id,
      text: 'via home',
    });
    expect(info.accepted).toEqual(['bob@example.com']);
    await expect.poll(() => delivered('bob@example.com', id).length, { timeout: 10_000 }).toBe(1);
    await expect
      .poll(() => front.log(), { timeout: 5000 })
      .toMatch(/submission-login: Info: Login: user=<alice@example.com>/);
  });

  it('refuses a password the home server refuses', async () => {
    const error = (await submit(ports.home, 'alice@example.com', 'alice-ldap-pw')
      .sendMail({ from: 'alice@example.com', to: 'bob@example.com', subject: 'x', text: 'x' })
      .catch((e: unknown) => e)) as { responseCode?: number };
    expect(error.responseCode).toBe(535);
  });
});

void execFile;

describe('logs', () => {
  it('never contain a submission password', () => {
    const text = logLines.join('\n');
    expect(text).toContain('authenticated');
    for (const secret of ['alice-ldap-pw', 'bob-ldap-pw', 'alice-pw'])
      expect(text).not.toContain(secret);
  });
});
