import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  encodeProxyV2,
  type Limits,
  type ListenerTls,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import {
  type Certificates,
  Dovecot,
  freePorts,
  type LdapUser,
  makeCertificates,
  RawClient,
  Slapd,
  tempDir,
} from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPop3Listener } from '../src/index.js';

const run = promisify(execFile);

const ldapUsers: LdapUser[] = [
  { uid: 'alice', mail: 'alice@example.com', password: 'alice-pw', mailHost: 'mbox-a' },
  { uid: 'bob', mail: 'bob@example.com', password: 'bob-pw', mailHost: 'mbox-b' },
  // Home on A through the catalog entry with master credentials: LDAP checks her password.
  { uid: 'carol', mail: 'carol@example.com', password: 'carol-pw', mailHost: 'mbox-a-master' },
  { uid: 'dave', mail: 'dave@example.com', password: 'dave-pw', mailHost: 'loop' },
  { uid: 'erin', mail: 'erin@example.com', password: 'erin-pw', mailHost: 'fake' },
  { uid: 'frank', mail: 'frank@example.com', password: 'frank-pw', mailHost: 'fake-dovecot' },
  { uid: 'grace', mail: 'grace@example.com', password: 'grace-pw', mailHost: 'mbox-a' },
];
const master = { user: 'homing-master', password: 'master-secret' };
const secrets = ['alice-pw', 'bob-pw', 'carol-pw', 'carol-dovecot-pw', 'master-secret', 'tok123'];

const limits: Limits = {
  ...defaultLimits,
  lineBytes: 4096,
  commands: 50,
  idleTimeoutMs: 1500,
  lineTimeoutMs: 2500,
  authTimeoutMs: 10_000,
  failedLoginDelayMs: 600,
  backendConnectTimeoutMs: 2000,
  directoryTimeoutMs: 2000,
  backendLoginTimeoutMs: 5000,
  proxyHeaderTimeoutMs: 2000,
};

const AUTH_FAILED = '-ERR [AUTH] Authentication failed.';
const UNAVAILABLE = '-ERR [SYS/TEMP] Temporary failure, try again later.';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

let certs: Certificates;
let certDir: { path: string; remove(): void };
let slapd: Slapd;
let dovecotA: Dovecot;
let dovecotB: Dovecot;
let directory: Directory;
let fake: FakeBackend;
/** Greets as Dovecot does a trusted peer, with [XCLIENT]. */
let fakeDovecot: FakeBackend;
const registry = new SessionRegistry();
const servers: Server[] = [];
const logLines: string[] = [];
const port = { plain: 0, strict: 0, secure: 0, proxied: 0 };

/** Clients a test opened, closed after it. */
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

beforeAll(async () => {
  certDir = tempDir('pop3-certs');
  certs = makeCertificates(certDir.path);
  [slapd, dovecotA, dovecotB, fake, fakeDovecot] = await Promise.all([
    Slapd.start(ldapUsers),
    Dovecot.start({
      name: 'A',
      users: [
        { user: 'alice@example.com', password: 'alice-pw' },
        { user: 'carol@example.com', password: 'carol-dovecot-pw' },
      ],
      masterUser: master,
    }),
    Dovecot.start({
      name: 'B',
      users: [{ user: 'bob@example.com', password: 'bob-pw' }],
      tls: { cert: certs.cert, key: certs.key },
    }),
    startFakeBackend('+OK fake POP3 ready'),
    startFakeBackend('+OK [XCLIENT] fake Dovecot ready.'),
  ]);
  const ports = await freePorts(4);
  Object.assign(port, { plain: ports[0], strict: ports[1], secure: ports[2], proxied: ports[3] });

  const pop3 = (p: number, tls: 'none' | 'starttls' = 'none') => ({
    pop3: { port: p, tls, forward: 'xclient' as const },
  });
  const catalog = new Catalog({
    backends: {
      'mbox-a': { host: '127.0.0.1', endpoints: pop3(dovecotA.pop3Port), tls: { verify: true } },
      'mbox-a-master': {
        host: '127.0.0.1',
        endpoints: pop3(dovecotA.pop3Port),
        tls: { verify: true },
        master,
      },
      'mbox-b': {
        host: '127.0.0.1',
        endpoints: pop3(dovecotB.pop3Port, 'starttls'),
        tls: { verify: true, caFile: certs.caCert },
      },
      loop: { host: '127.0.0.1', endpoints: pop3(port.plain), tls: { verify: true } },
      fake: {
        host: '127.0.0.1',
        endpoints: { pop3: { port: fake.port, tls: 'none', forward: 'none' } },
        tls: { verify: true },
      },
      'fake-dovecot': {
        host: '127.0.0.1',
        endpoints: { pop3: { port: fakeDovecot.port, tls: 'none', forward: 'xclient' } },
        tls: { verify: true },
      },
    },
    literalDefaults: {},
    literalTls: { verify: true },
    allowLiteral: false,
  });
  directory = new Directory({
    source: new LdapSource({
      ...slapd.sourceOptions(),
      filter: '(|(uid={address})(mail={address}))',
    }),
    catalog,
    rules: defaultAddressRules,
    // A short TTL, so that the test with slapd down is served by stale-if-error.
    cache: { maxEntries: 1000, ttlMs: 1000, negativeTtlMs: 1000, staleIfErrorMs: 3_600_000 },
  });

  const log = pino(
    { level: 'trace' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const serverTls = new ServerTls([{ cert: certs.cert, key: certs.key }]);
  const health = new BackendHealth({ backoffMinMs: 500, backoffMaxMs: 5000 });
  const ownPorts = Object.values(port);
  const listener = async (
    name: keyof typeof port,
    tls: ListenerTls,
    options: { allowPlaintext: boolean; oauth?: boolean; proxyProtocol?: boolean },
  ) => {
    servers.push(
      await startPop3Listener({
        spec: {
          name,
          host: '127.0.0.1',
          port: port[name],
          tls,
          proxyProtocol: options.proxyProtocol ?? false,
          trustedProxies: new AddressSet(options.proxyProtocol ? ['127.0.0.0/8'] : []),
        },
        directory,
        health,
        limits,
        registry,
        tls: serverTls,
        allowPlaintext: options.allowPlaintext,
        oauth: options.oauth ?? false,
        isOwnAddress: (host, p) => host === '127.0.0.1' && ownPorts.includes(p),
        log,
      }),
    );
  };
  await listener('plain', 'starttls', { allowPlaintext: true });
  await listener('strict', 'starttls', { allowPlaintext: false });
  await listener('secure', 'implicit', { allowPlaintext: false, oauth: true });
  await listener('proxied', 'none', { allowPlaintext: true, proxyProtocol: true });
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  registry.kickAll('test over');
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await fake?.close();
  await fakeDovecot?.close();
  await directory?.close();
  await Promise.all([dovecotA?.destroy(), dovecotB?.destroy(), slapd?.destroy()]);
  certDir?.remove();
});

async function connect(
  p: number,
  options: { tls?: boolean; preamble?: Buffer } = {},
): Promise<RawClient> {
  const c = await RawClient.connect({
    port: p,
    ...(options.tls ? { tls: { ca: certs.caCertPem } } : {}),
    ...(options.preamble ? { preamble: options.preamble } : {}),
  });
  clients.push(c);
  await c.until(/^\+OK/);
  return c;
}

/** Sends a one-line command; returns its status line. */
async function command(c: RawClient, line: string): Promise<string> {
  c.send(line);
  return (await c.until(/^(\+OK|-ERR|\+ ?$)/)).at(-1) as string;
}

/** Sends a command with a multi-line answer; returns its lines up to the final ".". */
async function multiline(c: RawClient, line: string): Promise<string[]> {
  c.send(line);
  return c.until(/^\.$/);
}

async function userPass(c: RawClient, user: string, password: string): Promise<string> {
  expect(await command(c, `USER ${user}`)).toBe('+OK');
  return command(c, `PASS ${password}`);
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function quit(c: RawClient): Promise<void> {
  expect(await command(c, 'QUIT')).toMatch(/^\+OK/);
  await c.waitClosed();
}

/** A fresh connection still gets served: a hostile client did not break the listener. */
async function stillServing(): Promise<void> {
  const c = await connect(port.plain);
  expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
  await quit(c);
}

describe('before login', () => {
  it('lists only what the proxy does, by listener and TLS state', async () => {
    const plain = await connect(port.plain);
    expect(await multiline(plain, 'CAPA')).toEqual([
      '+OK Capability list follows',
      'STLS',
      'USER',
      'SASL PLAIN',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
      '.',
    ]);
    const strict = await connect(port.strict);
    expect(await multiline(strict, 'CAPA')).toEqual([
      '+OK Capability list follows',
      'STLS',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
      '.',
    ]);
    const secure = await connect(port.secure, { tls: true });
    expect(await multiline(secure, 'CAPA')).toEqual([
      '+OK Capability list follows',
      'USER',
      'SASL PLAIN XOAUTH2 OAUTHBEARER',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
      '.',
    ]);
  });

  it('refuses plaintext credentials before STLS where they are not allowed', async () => {
    const c = await connect(port.strict);
    const refused = '-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.';
    expect(await command(c, 'USER alice@example.com')).toBe(refused);
    expect(await command(c, 'PASS alice-pw')).toBe(refused);
    expect(await command(c, `AUTH PLAIN ${b64('\0alice@example.com\0alice-pw')}`)).toBe(refused);
    expect(await command(c, 'STLS')).toBe('+OK Begin TLS negotiation.');
    await c.startTls(certs.caCertPem);
    expect(await multiline(c, 'CAPA')).toContain('USER');
    expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    expect((await multiline(c, 'RETR 1')).join('\n')).toContain('You are on backend A');
    await quit(c);
  });

  it('answers commands of other states, and unknown ones, with -ERR', async () => {
    const c = await connect(port.plain);
    for (const line of ['NOOP', 'RSET', 'STAT', 'APOP alice 0123456789abcdef', 'HELO', 'AUTH']) {
      expect(await command(c, line)).toMatch(/^-ERR /);
    }
    expect(await command(c, 'PASS alice-pw')).toBe('-ERR No user name given: USER first.');
    expect(await command(c, 'USER alice@example.com')).toBe('+OK');
    expect(await command(c, 'NOOP')).toMatch(/^-ERR /);
    expect(await command(c, 'PASS alice-pw')).toBe('-ERR No user name given: USER first.');
    expect(await command(c, 'AUTH CRAM-MD5')).toBe('-ERR Unsupported authentication mechanism.');
    expect(await command(c, `AUTH XOAUTH2 ${b64('user=erin@example.com\x01\x01')}`)).toBe(
      '-ERR Unsupported authentication mechanism.',
    );
    expect(await command(c, 'STLS now')).toBe('-ERR STLS takes no argument.');
    await quit(c);
  });
});

describe('login and splice', () => {
  it('lands each user on their own backend (USER/PASS, backend STLS, master login)', async () => {
    for (const [user, password, backend] of [
      ['alice@example.com', 'alice-pw', 'A'],
      ['bob@example.com', 'bob-pw', 'B'],
      ['carol@example.com', 'carol-pw', 'A'],
    ]) {
      const c = await connect(port.plain);
      expect(await userPass(c, user as string, password as string)).toMatch(/^\+OK Logged in/);
      expect((await multiline(c, 'RETR 1')).join('\n')).toContain(
        `Subject: You are on backend ${backend}`,
      );
      await quit(c);
    }
    // Carol's home takes the master login: her password is the one LDAP holds, not Dovecot's.
    const c = await connect(port.plain);
    expect(await userPass(c, 'carol@example.com', 'carol-dovecot-pw')).toBe(AUTH_FAILED);
  });

  it('STAT, LIST, UIDL, TOP, RETR answer as Dovecot itself does; DELE and QUIT delete', async () => {
    dovecotA.deliverRaw(
      'alice@example.com',
      'From: a@example.com\nSubject: second\n\nline one\n.dot line\nline three\n',
    );
    const transcript = async (c: RawClient) => {
      const out: string[] = [];
      for (const line of ['STAT', 'LIST 2', 'UIDL 1', 'NOOP']) out.push(await command(c, line));
      for (const line of ['LIST', 'UIDL', 'TOP 1 0', 'TOP 2 1', 'RETR 2']) {
        out.push(...(await multiline(c, line)));
      }
      return out;
    };
    const direct = await RawClient.connect({ port: dovecotA.pop3Port });
    clients.push(direct);
    await direct.until(/^\+OK/);
    expect(await userPass(direct, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    const expected = await transcript(direct);
    await quit(direct);

    const c = await connect(port.plain);
    expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    const proxied = await transcript(c);
    expect(proxied).toEqual(expected);
    expect(proxied).toContain('..dot line');
    expect(await command(c, 'DELE 2')).toMatch(/^\+OK/);
    expect(await command(c, 'RETR 2')).toMatch(/^-ERR/);
    await quit(c);
    expect(dovecotA.messageCount('alice@example.com')).toBe(1);
  });

  it('AUTH PLAIN with an initial response, with a continuation, and cancelled', async () => {
    const c = await connect(port.plain);
    expect(await command(c, 'AUTH PLAIN')).toBe('+ ');
    expect(await command(c, '*')).toBe('-ERR Authentication cancelled.');
    expect(await command(c, 'AUTH PLAIN =')).toBe('-ERR Malformed PLAIN response.');
    expect(await command(c, 'AUTH PLAIN')).toBe('+ ');
    expect(await command(c, b64('\0bob@example.com\0bob-pw'))).toMatch(/^\+OK Logged in/);
    expect((await multiline(c, 'TOP 1 0')).join('\n')).toContain('You are on backend B');
    await quit(c);

    const ir = await connect(port.plain);
    expect(await command(ir, `auth plain ${b64('\0alice@example.com\0alice-pw')}`)).toMatch(
      /^\+OK Logged in/,
    );
    expect(await command(ir, 'STAT')).toMatch(/^\+OK 1 /);
    await quit(ir);
  });

  it('STLS drops what was pipelined before the handshake', async () => {
    const c = await connect(port.plain);
    c.write('STLS\r\nUSER alice@example.com\r\n');
    await c.until(/^\+OK Begin TLS/);
    await c.startTls(certs.caCertPem);
    expect(await command(c, 'PASS alice-pw')).toBe('-ERR No user name given: USER first.');
    expect(await multiline(c, 'CAPA')).not.toContain('STLS');
    expect(await command(c, 'STLS')).toBe('-ERR STLS not available.');
    expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    await quit(c);
  });

  it('serves implicit TLS', async () => {
    const c = await connect(port.secure, { tls: true });
    expect(await userPass(c, 'bob@example.com', 'bob-pw')).toMatch(/^\+OK/);
    expect((await multiline(c, 'RETR 1')).join('\n')).toContain('You are on backend B');
    await quit(c);
  });

  it('takes the client address from PROXY v1 and v2 headers and hands it to Dovecot', async () => {
    // v1, with a command right behind the header in the same packet.
    const v1 = await connect(port.proxied, {
      preamble: Buffer.from(`PROXY TCP4 192.0.2.10 127.0.0.1 40000 ${port.proxied}\r\nCAPA\r\n`),
    });
    expect(await v1.until(/^\.$/)).toContain('USER');
    expect(await userPass(v1, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    await quit(v1);
    await expect
      .poll(() => dovecotA.log(), { timeout: 5000 })
      .toMatch(/Login: user=<alice@example\.com>.*rip=192\.0\.2\.10,/);

    const v2 = await connect(port.proxied, {
      preamble: encodeProxyV2(
        { address: '198.51.100.20', port: 40001 },
        { address: '127.0.0.1', port: port.proxied },
      ),
    });
    expect(await command(v2, `AUTH PLAIN ${b64('\0bob@example.com\0bob-pw')}`)).toMatch(/^\+OK/);
    await quit(v2);
    await expect
      .poll(() => dovecotB.log(), { timeout: 5000 })
      .toMatch(/Login: user=<bob@example\.com>.*rip=198\.51\.100\.20,.*TLS/);
  });

  it('serves curl (SASL PLAIN, STLS, implicit TLS)', async () => {
    const curl = async (...args: string[]) =>
      (await run('curl', ['-s', '-S', '--max-time', '10', ...args])).stdout;
    expect(
      await curl('--url', `pop3://127.0.0.1:${port.plain}/1`, '--user', 'bob@example.com:bob-pw'),
    ).toContain('Subject: You are on backend B');
    expect(
      await curl(
        '--ssl-reqd',
        '--cacert',
        certs.caCert,
        '--url',
        `pop3://127.0.0.1:${port.strict}/1`,
        '--user',
        'alice@example.com:alice-pw',
      ),
    ).toContain('Subject: You are on backend A');
    const listing = await curl(
      '--cacert',
      certs.caCert,
      '--url',
      `pop3s://127.0.0.1:${port.secure}/`,
      '--user',
      'bob@example.com:bob-pw',
    );
    expect(listing).toMatch(/^1 \d+\r?\n$/);
  });

  it('replays USER and PASS as one AUTH PLAIN to a backend that offers XCLIENT (Dovecot), as USER and PASS to any other', async () => {
    const c = await connect(port.plain);
    expect(await userPass(c, 'frank@example.com', 'frank-pw')).toBe('+OK Logged in (fake).');
    expect(await command(c, 'STAT')).toBe('+OK 0 0');
    await quit(c);
    expect(fakeDovecot.lines).toContain(`AUTH PLAIN ${b64('\0frank@example.com\0frank-pw')}`);
    expect(fakeDovecot.lines.filter((l) => /^(USER|PASS) /.test(l))).toEqual([]);
    // XCLIENT went alone, the login only after its reply (Dovecot stalls a command pipelined
    // behind it); the fake refused it, which is logged, and the login went on.
    expect(fakeDovecot.chunks).toContainEqual(
      expect.stringMatching(/^XCLIENT ADDR=127\.0\.0\.1 PORT=\d+ SESSION=\S+\r\n$/),
    );
    expect(logLines.some((l) => l.includes('backend refused XCLIENT'))).toBe(true);

    const d = await connect(port.plain);
    expect(await userPass(d, 'erin@example.com', 'erin-pw')).toBe(
      '-ERR [IN-USE] Mailbox is locked by another session.',
    );
    expect(fake.lines).toContain('USER erin@example.com');
    expect(fake.lines).toContain('PASS erin-pw');
    expect(fake.lines.filter((l) => l.startsWith('AUTH PLAIN '))).toEqual([]);
  });

  it("opens a cached user's backend while PASS is on its way, and closes it when no login comes", async () => {
    const warm = await connect(port.plain); // the directory caches frank
    expect(await userPass(warm, 'frank@example.com', 'frank-pw')).toBe('+OK Logged in (fake).');
    await quit(warm);
    await until(() => fakeDovecot.connections() === 0);
    const before = fakeDovecot.accepted();
    const hits = directory.counters.hits;
    const xclients = () => fakeDovecot.lines.filter((l) => l.startsWith('XCLIENT ')).length;
    const sent = xclients();

    const c = await connect(port.plain);
    expect(await command(c, 'USER frank@example.com')).toBe('+OK');
    await until(() => fakeDovecot.accepted() === before + 1);
    // The client's address goes before PASS comes, so that the login is one round trip.
    await until(() => xclients() === sent + 1);
    expect(await command(c, 'PASS frank-pw')).toBe('+OK Logged in (fake).');
    expect(await command(c, 'STAT')).toBe('+OK 0 0');
    expect(fakeDovecot.accepted()).toBe(before + 1); // the login took that connection
    expect(xclients()).toBe(sent + 1); // and did not send XCLIENT again
    expect(directory.counters.hits).toBe(hits + 1); // one login, one cache hit
    await quit(c);

    const d = await connect(port.plain);
    expect(await command(d, 'USER frank@example.com')).toBe('+OK');
    await until(() => fakeDovecot.accepted() === before + 2);
    expect(await command(d, 'USER nobody@example.com')).toBe('+OK'); // the name changed
    await until(() => fakeDovecot.connections() === 0);
    expect(await command(d, 'USER frank@example.com')).toBe('+OK');
    await until(() => fakeDovecot.connections() === 1);
    await quit(d); // and no PASS came
    await until(() => fakeDovecot.connections() === 0);
    // An unknown name opens nothing, and its answer is the same.
    const e = await connect(port.plain);
    expect(await command(e, 'USER nobody@example.com')).toBe('+OK');
    expect(await command(e, 'PASS x')).toBe(AUTH_FAILED);
    expect(fakeDovecot.accepted()).toBe(before + 3);
    await quit(e);
  });

  it('passes XOAUTH2 through and relays a backend -ERR [IN-USE] unchanged', async () => {
    const token = b64('user=erin@example.com\x01auth=Bearer tok123\x01\x01');
    const c = await connect(port.secure, { tls: true });
    expect(await command(c, `AUTH XOAUTH2 ${token}`)).toBe('+OK Logged in (fake).');
    expect(await command(c, 'STAT')).toBe('+OK 0 0');
    await quit(c);
    expect(fake.lines).toContain(`AUTH XOAUTH2 ${token}`);

    const locked = await connect(port.secure, { tls: true });
    expect(await userPass(locked, 'erin@example.com', 'erin-pw')).toBe(
      '-ERR [IN-USE] Mailbox is locked by another session.',
    );
    // A refused token: the backend's error challenge is answered, the client sees a failure.
    const bearer = b64('n,a=erin@example.com,\x01auth=Bearer bad\x01\x01');
    const refused = await timed(() => command(locked, `AUTH OAUTHBEARER ${bearer}`));
    expect(refused.value).toBe(AUTH_FAILED);
    expect(refused.ms).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 10);
    expect(fake.lines).toContain('AQ==');
  });

  it('drops the backend connection of a client that left during its login', async () => {
    const c = await connect(port.secure, { tls: true });
    const token = b64('user=erin@example.com\x01auth=Bearer slow\x01\x01');
    c.send(`AUTH XOAUTH2 ${token}`);
    await until(() => fake.lines.includes(`AUTH XOAUTH2 ${token}`));
    c.close();
    await new Promise((resolve) => setTimeout(resolve, 700)); // the fake answers after 300 ms
    expect(fake.connections()).toBe(0);
    await stillServing();
  });

  it('kicks a spliced session by user', async () => {
    const c = await connect(port.plain);
    expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    expect(await command(c, 'NOOP')).toBe('+OK');
    const [session] = registry.list({ user: 'alice@example.com' });
    expect(session).toMatchObject({ protocol: 'pop3', backend: 'mbox-a' });
    expect(session?.counts?.().up).toBeGreaterThan(0);
    expect(registry.kick('alice@example.com')).toBe(1);
    await c.waitClosed();
  });
});

describe('failures', () => {
  it('answers unknown user and wrong password alike, after the same delay', async () => {
    const attempt = async (user: string, password: string) => {
      const c = await connect(port.plain);
      expect(await command(c, `USER ${user}`)).toBe('+OK');
      return timed(() => command(c, `PASS ${password}`));
    };
    const unknown = await attempt('nobody@example.com', 'x');
    const wrong = await attempt('alice@example.com', 'wrong');
    const plainWrong = await timed(async () => {
      const c = await connect(port.plain);
      return command(c, `AUTH PLAIN ${b64('\0alice@example.com\0wrong')}`);
    });
    for (const result of [unknown, wrong, plainWrong]) {
      expect(result.value).toBe(AUTH_FAILED);
      expect(result.ms).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 10);
      expect(result.ms).toBeLessThan(limits.failedLoginDelayMs + 500);
    }
    expect(Math.abs(unknown.ms - wrong.ms)).toBeLessThan(300);
  });

  it('may try again on the same connection after a failure', async () => {
    const c = await connect(port.plain);
    expect(await userPass(c, 'alice@example.com', 'wrong')).toBe(AUTH_FAILED);
    expect(await userPass(c, 'alice@example.com', 'alice-pw')).toMatch(/^\+OK/);
    await quit(c);
  });

  it('refuses a route back to the proxy itself, fast', async () => {
    const c = await connect(port.plain);
    const result = await timed(() => userPass(c, 'dave@example.com', 'dave-pw'));
    expect(result.value).toBe(UNAVAILABLE);
    expect(result.ms).toBeLessThan(500);
    expect(logLines.some((l) => l.includes('route loop'))).toBe(true);
  });
});

describe('hostile input', () => {
  it('closes on a 1 MB line', async () => {
    const c = await connect(port.plain);
    c.write(Buffer.alloc(1 << 20, 0x41));
    await c.until(/^-ERR Line too long\.$/);
    await c.waitClosed();
    await stillServing();
  });

  it('refuses NUL bytes and control characters', async () => {
    const c = await connect(port.plain);
    const invalid = '-ERR Invalid command: control characters in command.';
    expect(await command(c, 'USER al\0ice@example.com')).toBe(invalid);
    expect(await command(c, '\0\0\0\0')).toBe(invalid);
    expect(await command(c, 'US\0ER alice@example.com')).toBe(invalid);
    expect(await command(c, 'PASS alice-pw')).toBe('-ERR No user name given: USER first.');
    expect(await command(c, '')).toBe('-ERR Invalid command: empty command.');
    await stillServing();
  });

  it('answers pipelined commands in order, up to the command limit', async () => {
    const c = await connect(port.plain);
    c.write('NOOP\r\n'.repeat(10_000));
    const lines = await c.until(/^-ERR Too many commands/);
    expect(lines).toHaveLength(limits.commands + 1);
    expect(new Set(lines.slice(0, -1))).toEqual(
      new Set(['-ERR Unknown command, or not valid before login.']),
    );
    await c.waitClosed();

    const piped = await connect(port.plain);
    piped.write('CAPA\r\nUSER bob@example.com\r\nPASS bob-pw\r\nSTAT\r\nQUIT\r\n');
    const all = await piped.until(/^\+OK Logging out/);
    expect(all.filter((l) => /^[+-]/.test(l))).toEqual([
      '+OK Capability list follows',
      '+OK',
      expect.stringMatching(/^\+OK Logged in/),
      expect.stringMatching(/^\+OK 1 \d+$/),
      expect.stringMatching(/^\+OK Logging out/),
    ]);
    await stillServing();
  });

  it('closes a line that never ends once the client is idle', async () => {
    const c = await connect(port.plain);
    c.write('USER alice@exa');
    const result = await timed(() => c.until(/^-ERR Disconnected for inactivity\.$/, 4000));
    expect(result.ms).toBeGreaterThanOrEqual(limits.idleTimeoutMs - 100);
    await c.waitClosed();
    await stillServing();
  });

  it('closes a client that trickles a line, byte by byte, at the line deadline', async () => {
    const c = await connect(port.plain);
    const line = 'USER alice@example.com and on and on and on and on and on';
    const started = performance.now();
    for (let i = 0; !c.closed && i < line.length; i += 1) {
      c.write(line[i] as string);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await c.waitClosed();
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(limits.lineTimeoutMs - 100);
    expect(ms).toBeLessThan(limits.lineTimeoutMs + 1500);
    await stillServing();
  });

  it('refuses bad base64 in AUTH', async () => {
    const c = await connect(port.plain);
    const bad = '-ERR Invalid base64 data in authentication response.';
    expect(await command(c, 'AUTH PLAIN !!!!')).toBe(bad);
    expect(await command(c, 'AUTH PLAIN AGFsaWNl')).toBe('-ERR Malformed PLAIN response.');
    expect(await command(c, 'AUTH PLAIN')).toBe('+ ');
    expect(await command(c, 'AGFsaWNlAHB3ZA')).toBe(bad);
    expect(await command(c, 'AUTH PLAIN')).toBe('+ ');
    // The line after "+ " is the answer, even one that looks like a command.
    expect(await command(c, 'QUIT')).toBe('-ERR Malformed PLAIN response.');
    await quit(c);
    await stillServing();
  });
});

describe('outages', () => {
  it('gives -ERR [SYS/TEMP] within a second when the backend is down', async () => {
    await dovecotB.kill();
    for (let i = 0; i < 2; i += 1) {
      const c = await connect(port.plain);
      const result = await timed(() => userPass(c, 'bob@example.com', 'bob-pw'));
      expect(result.value).toBe(UNAVAILABLE);
      expect(result.ms).toBeLessThan(1000);
    }
    await stillServing();
  });

  it('still logs cached users in when slapd is gone', async () => {
    await stillServing(); // alice is in the cache
    await new Promise((resolve) => setTimeout(resolve, 1100)); // and now past its TTL
    await slapd.kill();
    await stillServing();
    expect(logLines.some((l) => l.includes('using a stale route'))).toBe(true);
    const c = await connect(port.plain);
    expect(await userPass(c, 'grace@example.com', 'grace-pw')).toBe(UNAVAILABLE);
  });
});

describe('logging', () => {
  it('writes one line per session and never a password', async () => {
    // The last session's closing line follows the end its client saw: the relay reports it.
    const lines = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const unclosed = () => {
      const ended = new Set(lines().flatMap((l) => (l.msg === 'session closed' ? [l.sid] : [])));
      return lines().filter((l) => l.msg === 'logged in' && !ended.has(l.sid)).length;
    };
    await expect.poll(unclosed, { timeout: 2000 }).toBe(0);
    const closed = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'session closed');
    expect(closed.length).toBeGreaterThan(20);
    expect(new Set(closed.map((l) => l.sid)).size).toBe(closed.length);
    expect(closed).toContainEqual(
      expect.objectContaining({
        proto: 'pop3',
        user: 'bob@example.com',
        backend: 'mbox-b',
        client: '127.0.0.1',
        reason: expect.any(String),
        bytes_up: expect.any(Number),
        bytes_down: expect.any(Number),
        duration_ms: expect.any(Number),
      }),
    );
    expect(closed).toContainEqual(expect.objectContaining({ reason: 'kicked' }));
    expect(closed).toContainEqual(expect.objectContaining({ client: '198.51.100.20' }));
    // Each login has its line with the session's fields, the same as the closing one's.
    const loggedIn = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'logged in');
    expect(loggedIn.length).toBeGreaterThan(10);
    for (const line of loggedIn) {
      expect(closed).toContainEqual(
        expect.objectContaining({
          sid: line.sid,
          client: line.client,
          user: line.user,
          backend: line.backend,
          proto: line.proto,
        }),
      );
    }
    for (const secret of secrets) {
      expect(logLines.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});

interface FakeBackend {
  readonly port: number;
  /** Every line it was sent. */
  readonly lines: string[];
  /** What each read of a connection brought, as text. */
  readonly chunks: string[];
  /** Connections open now. */
  connections(): number;
  /** Connections taken so far. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A scripted POP3 backend for what Dovecot here is not set up for: OAuth mechanisms and a
 * mailbox that is in use.
 */
async function startFakeBackend(greeting: string): Promise<FakeBackend> {
  const lines: string[] = [];
  const chunks: string[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(`${greeting}\r\n`);
    let buffer = '';
    let challenged = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk.toString('latin1'));
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        lines.push(line);
        let answer = '-ERR Unknown command.';
        if (challenged) {
          challenged = false;
          answer = '-ERR [AUTH] Invalid token.';
        } else if (line.startsWith('USER ')) answer = '+OK';
        else if (line.startsWith('PASS ')) {
          answer = '-ERR [IN-USE] Mailbox is locked by another session.';
        } else if (line.startsWith('AUTH PLAIN ')) answer = '+OK Logged in (fake).';
        else if (line.startsWith('AUTH XOAUTH2 ')) {
          const slow = Buffer.from(line.slice(13), 'base64').includes('Bearer slow');
          setTimeout(() => socket.write('+OK Logged in (fake).\r\n'), slow ? 300 : 0);
          continue;
        } else if (line.startsWith('AUTH OAUTHBEARER ')) {
          challenged = true;
          answer = `+ ${b64('{"status":"invalid_token"}')}`;
        } else if (line === 'STAT') answer = '+OK 0 0';
        else if (line === 'QUIT') answer = '+OK Bye.';
        socket.write(`${answer}\r\n`);
        if (line === 'QUIT') socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    lines,
    chunks,
    connections: () => sockets.size,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
