import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  BackendProbes,
  defaultLimits,
  type Limits,
  type ListenerTls,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import { startSmtpListener } from '@homing/smtp-proxy';
import {
  type Certificates,
  Dovecot,
  ensureDebianPackages,
  freePorts,
  type LdapUser,
  makeCertificates,
  RawClient,
  Slapd,
  tempDir,
} from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startManageSieveListener } from '../src/index.js';

const ldapUsers: LdapUser[] = [
  { uid: 'alice', mail: 'alice@example.com', password: 'alice-pw', mailHost: 'mbox-a' },
  { uid: 'bob', mail: 'bob@example.com', password: 'bob-pw', mailHost: 'mbox-b' },
  // Home on A through the catalog entry with master credentials: LDAP checks her password.
  { uid: 'carol', mail: 'carol@example.com', password: 'carol-pw', mailHost: 'mbox-a-master' },
  { uid: 'erin', mail: 'erin@example.com', password: 'erin-pw', mailHost: 'nowhere' },
  { uid: 'grace', mail: 'grace@example.com', password: 'grace-pw', mailHost: 'mbox-a' },
];
const master = { user: 'homing-master', password: 'master-secret' };

const limits: Limits = {
  ...defaultLimits,
  lineBytes: 4096,
  literalBytes: 8192,
  commands: 50,
  idleTimeoutMs: 5000,
  authTimeoutMs: 10_000,
  failedLoginDelayMs: 600,
  backendConnectTimeoutMs: 2000,
  directoryTimeoutMs: 2000,
  backendLoginTimeoutMs: 5000,
};

const AUTH_FAILED = 'NO "Authentication failed."';
const UNAVAILABLE = 'NO (TRYLATER) "Temporary failure, try again later."';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const plain = (user: string, password: string) => b64(`\0${user}\0${password}`);

/** Files anything from the test sender into the "Filtered" mailbox (RFC 5228 §4.1, RFC 5490). */
const FILTER = [
  'require ["fileinto", "mailbox"];',
  'if address :is "from" "filter-me@example.net" {',
  '  fileinto :create "Filtered";',
  '}',
  '',
].join('\r\n');

let certs: Certificates;
let work: { path: string; remove(): void };
let slapd: Slapd;
let dovecotA: Dovecot;
let dovecotB: Dovecot;
let directory: Directory;
let probes: BackendProbes;
const registry = new SessionRegistry();
const servers: Server[] = [];
const logLines: string[] = [];
const port = { plain: 0, strict: 0, proxied: 0, lmtp: 0 };
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

beforeAll(async () => {
  ensureDebianPackages({ 'sieve-connect': 'sieve-connect' });
  work = tempDir('managesieve');
  certs = makeCertificates(work.path);
  writeFileSync(join(work.path, 'filter.sieve'), FILTER);
  [slapd, dovecotA, dovecotB] = await Promise.all([
    Slapd.start(ldapUsers),
    Dovecot.start({
      name: 'A',
      sieve: true,
      users: [
        { user: 'alice@example.com', password: 'alice-pw' },
        { user: 'carol@example.com', password: 'carol-dovecot-pw' },
        { user: 'grace@example.com', password: 'grace-pw' },
      ],
      masterUser: master,
    }),
    Dovecot.start({
      name: 'B',
      sieve: true,
      users: [{ user: 'bob@example.com', password: 'bob-pw' }],
      tls: { cert: certs.cert, key: certs.key },
    }),
  ]);
  const [plainPort, strictPort, proxiedPort, lmtpPort, closedPort] = await freePorts(5);
  Object.assign(port, {
    plain: plainPort,
    strict: strictPort,
    proxied: proxiedPort,
    lmtp: lmtpPort,
  });
  const sieve = (p: number | undefined, tls: 'none' | 'starttls' = 'none') => ({
    managesieve: { port: p ?? 0, tls, forward: 'xclient' as const },
  });
  const catalog = new Catalog({
    backends: {
      'mbox-a': {
        host: '127.0.0.1',
        endpoints: {
          ...sieve(dovecotA.managesievePort),
          lmtp: { port: dovecotA.lmtpPort, tls: 'none', forward: 'none' },
        },
        tls: { verify: true },
      },
      'mbox-a-master': {
        host: '127.0.0.1',
        endpoints: sieve(dovecotA.managesievePort),
        tls: { verify: true },
        master,
      },
      'mbox-b': {
        host: '127.0.0.1',
        endpoints: sieve(dovecotB.managesievePort, 'starttls'),
        tls: { verify: true, caFile: certs.caCert },
      },
      // Nothing listens there: a backend that is down.
      nowhere: { host: '127.0.0.1', endpoints: sieve(closedPort), tls: { verify: true } },
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
  const health = new BackendHealth({ backoffMinMs: 500, backoffMaxMs: 5000 });
  // As the server does: probes read each backend's capability list, and pre-login CAPABILITY
  // offers the Sieve extensions they all have.
  probes = new BackendProbes({ catalog, health, protocols: ['managesieve'] });
  await probes.probeNow();
  const probedCapabilities = () =>
    probes
      .snapshot()
      .filter((s) => s.backend.startsWith('mbox-') && s.capabilities !== undefined)
      .map((s) => ({ backend: s.backend, lines: s.capabilities ?? [] }));
  const serverTls = new ServerTls([{ cert: certs.cert, key: certs.key }]);
  const listener = async (
    name: keyof typeof port,
    tls: ListenerTls,
    allowPlaintext: boolean,
    proxyProtocol = false,
  ) => {
    servers.push(
      await startManageSieveListener({
        spec: {
          name,
          host: '127.0.0.1',
          port: port[name],
          tls,
          proxyProtocol,
          trustedProxies: new AddressSet(proxyProtocol ? ['127.0.0.0/8'] : []),
        },
        directory,
        health,
        limits,
        registry,
        tls: serverTls,
        allowPlaintext,
        oauth: false,
        isOwnAddress: (host, p) => host === '127.0.0.1' && Object.values(port).includes(p),
        probedCapabilities,
        log,
      }),
    );
  };
  await listener('plain', 'starttls', true);
  await listener('strict', 'starttls', false);
  await listener('proxied', 'none', true, true);
  // homing's own LMTP, in front of Dovecot's: delivery there runs the active Sieve script.
  servers.push(
    await startSmtpListener({
      spec: {
        name: 'lmtp',
        host: '127.0.0.1',
        port: port.lmtp,
        tls: 'none',
        proxyProtocol: false,
        trustedProxies: new AddressSet([]),
      },
      kind: 'lmtp',
      policy: 'single',
      directory,
      health,
      limits,
      registry,
      tls: undefined,
      hostname: 'homing.test',
      maxMessageBytes: 100_000,
      maxRecipients: 10,
      maxReceived: 30,
      smtputf8: false,
      dsn: false,
      isOwnAddress: () => false,
      log,
    }),
  );
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  registry.kickAll('test over');
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await directory?.close();
  await Promise.all([dovecotA?.destroy(), dovecotB?.destroy(), slapd?.destroy()]);
  work?.remove();
});

/** Debian's sieve-connect against a homing listener; the password goes in on stdin. */
function sieveConnect(
  user: string,
  password: string,
  args: string[],
  listener: keyof typeof port = 'strict',
): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    'sieve-connect',
    [
      '--server',
      'localhost',
      '--port',
      String(port[listener]),
      '--user',
      user,
      '--passwordfd',
      '0',
      '--tlscafile',
      certs.caCert,
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdin.end(`${password}\n`);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

async function connect(p: number = port.plain, preamble?: Buffer): Promise<RawClient> {
  const c = await RawClient.connect({ port: p, ...(preamble ? { preamble } : {}) });
  clients.push(c);
  await c.until(/^(OK|NO|BYE)/);
  return c;
}

/** Sends a command; returns its final response line (OK, NO or BYE). */
async function command(c: RawClient, line: string | Buffer): Promise<string> {
  if (typeof line === 'string') c.send(line);
  else c.write(line);
  return (await c.until(/^(OK|NO|BYE)\b/)).at(-1) as string;
}

function scripts(server: Dovecot, user: string): string[] {
  const dir = server.sieveDir(user);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sieve')) : [];
}

/** One message through homing's LMTP to the user's home, where Pigeonhole runs the script. */
async function deliverByLmtp(to: string): Promise<void> {
  const c = await RawClient.connect({ port: port.lmtp });
  clients.push(c);
  await c.until(/^220 /);
  const step = async (line: string, reply: RegExp) => {
    c.send(line);
    await c.until(reply);
  };
  await step('LHLO homing.test', /^250 /);
  await step('MAIL FROM:<filter-me@example.net>', /^250 /);
  await step(`RCPT TO:<${to}>`, /^250 /);
  await step('DATA', /^354 /);
  await step(
    'From: <filter-me@example.net>\r\nTo: <alice@example.com>\r\nSubject: sieve\r\n\r\nfiltered\r\n.',
    /^250 /,
  );
  await step('QUIT', /^221 /);
}

describe('sieve-connect through homing', () => {
  it('uploads, lists, activates and deletes a script on the home of each user', async () => {
    const local = join(work.path, 'filter.sieve');
    for (const [user, password, home, other] of [
      ['alice@example.com', 'alice-pw', dovecotA, dovecotB],
      ['bob@example.com', 'bob-pw', dovecotB, dovecotA],
    ] as const) {
      const upload = await sieveConnect(user, password, [
        '--upload',
        '--localsieve',
        local,
        '--remotesieve',
        'filter',
      ]);
      expect(upload, upload.out).toMatchObject({ code: 0 });
      expect(scripts(home, user)).toEqual(['filter.sieve']);
      expect(readFileSync(join(home.sieveDir(user), 'filter.sieve'), 'utf8')).toBe(FILTER);
      expect(scripts(other, user)).toEqual([]);

      const activate = await sieveConnect(user, password, [
        '--activate',
        '--remotesieve',
        'filter',
      ]);
      expect(activate, activate.out).toMatchObject({ code: 0 });
      const list = await sieveConnect(user, password, ['--list']);
      expect(list.code, list.out).toBe(0);
      expect(list.out).toMatch(/^"filter" ACTIVE$/m);
    }

    // The active script files what homing's LMTP delivers.
    await deliverByLmtp('alice@example.com');
    const filtered = join(dovecotA.maildir('alice@example.com'), '.Filtered', 'new');
    expect(readdirSync(filtered)).toHaveLength(1);

    for (const [user, password, home] of [
      ['alice@example.com', 'alice-pw', dovecotA],
      ['bob@example.com', 'bob-pw', dovecotB],
    ] as const) {
      // RFC 5804 §2.10: the active script cannot be deleted; deactivate it first.
      const off = await sieveConnect(user, password, ['--deactivate']);
      expect(off, off.out).toMatchObject({ code: 0 });
      const gone = await sieveConnect(user, password, ['--delete', '--remotesieve', 'filter']);
      expect(gone, gone.out).toMatchObject({ code: 0 });
      expect(scripts(home, user)).toEqual([]);
    }
  });

  it('logs in as the master user where the catalog has one', async () => {
    const list = await sieveConnect('carol@example.com', 'carol-pw', ['--list']);
    expect(list, list.out).toMatchObject({ code: 0 });
    const wrong = await sieveConnect('carol@example.com', 'carol-dovecot-pw', ['--list']);
    expect(wrong.code).not.toBe(0);
  });
});

describe('login', () => {
  it('offers its own capabilities, and the Sieve extensions its backends share', async () => {
    const c = await connect();
    c.send('CAPABILITY');
    const lines = await c.until(/^OK/);
    expect(lines[0]).toBe('"IMPLEMENTATION" "homing"');
    expect(lines).toContain('"SASL" "PLAIN"');
    expect(lines).toContain('"STARTTLS"');
    expect(lines).toContain('"VERSION" "1.0"');
    // What both backends' probes read from their greetings, in a sorted list.
    for (const backend of ['mbox-a', 'mbox-b']) {
      const state = probes.snapshot().find((s) => s.backend === backend);
      expect(state?.capabilities).toContainEqual(expect.stringMatching(/^"SIEVE" "[^"]*fileinto/));
    }
    const sieve = lines.find((l) => l.startsWith('"SIEVE"'));
    expect(sieve).toMatch(/^"SIEVE" "(?:[^" ]+ )*fileinto(?: [^" ]+)*"$/);
  });

  it('takes AUTHENTICATE "PLAIN" with a literal, and splices to the backend', async () => {
    const c = await connect();
    const response = plain('grace@example.com', 'grace-pw');
    const reply = await command(
      c,
      Buffer.from(`AUTHENTICATE "PLAIN" {${response.length}+}\r\n${response}\r\n`),
    );
    expect(reply).toMatch(/^OK/);
    // Now Dovecot answers: a command only a logged-in ManageSieve server knows.
    expect(await command(c, 'LISTSCRIPTS')).toMatch(/^OK/);
    expect(await command(c, 'LOGOUT')).toMatch(/^OK/);
  });

  it('takes the response after an empty challenge', async () => {
    const c = await connect();
    c.send('AUTHENTICATE "PLAIN"');
    expect(await c.until(/^""$/)).toEqual(['""']);
    expect(await command(c, `"${plain('alice@example.com', 'alice-pw')}"`)).toMatch(/^OK/);
    expect(await command(c, 'LISTSCRIPTS')).toMatch(/^OK/);
  });

  it('answers a wrong password and an unknown user alike', async () => {
    for (const [user, password] of [
      ['alice@example.com', 'wrong'],
      ['nobody@example.com', 'whatever'],
    ] as const) {
      const c = await connect();
      const started = performance.now();
      expect(await command(c, `AUTHENTICATE "PLAIN" "${plain(user, password)}"`)).toBe(AUTH_FAILED);
      expect(performance.now() - started).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 5);
      expect(await command(c, 'NOOP "still-here"')).toBe('OK (TAG "still-here") "Done."');
    }
  });

  it('refuses a password before STARTTLS where the listener says so, and takes it after', async () => {
    const c = await connect(port.strict);
    expect(
      await command(c, `AUTHENTICATE "PLAIN" "${plain('alice@example.com', 'alice-pw')}"`),
    ).toBe('NO (ENCRYPT-NEEDED) "Plaintext authentication disallowed on non-secure connections."');
    expect(await command(c, 'STARTTLS')).toMatch(/^OK/);
    await c.startTls(certs.caCertPem);
    // RFC 5804 §2.2: the capabilities come again, unasked, and now allow a login.
    const lines = await c.until(/^OK/);
    expect(lines).toContain('"SASL" "PLAIN"');
    expect(lines).not.toContain('"STARTTLS"');
    expect(
      await command(c, `AUTHENTICATE "PLAIN" "${plain('alice@example.com', 'alice-pw')}"`),
    ).toMatch(/^OK/);
  });

  it('hands the client address to Dovecot with XCLIENT', async () => {
    const header = `PROXY TCP4 192.0.2.10 127.0.0.1 40000 ${port.proxied}\r\n`;
    const c = await connect(port.proxied, Buffer.from(header));
    const reply = await command(
      c,
      `AUTHENTICATE "PLAIN" "${plain('alice@example.com', 'alice-pw')}"`,
    );
    expect(reply).toMatch(/^OK/);
    expect(await command(c, 'LOGOUT')).toMatch(/^OK/);
    await expect
      .poll(() => dovecotA.log(), { timeout: 5000 })
      .toMatch(/managesieve-login: Info: Login: user=<alice@example\.com>.*rip=192\.0\.2\.10,/);
  });

  it('lists a spliced session and kicks it by user', async () => {
    const c = await connect();
    expect(
      await command(c, `AUTHENTICATE "PLAIN" "${plain('grace@example.com', 'grace-pw')}"`),
    ).toMatch(/^OK/);
    expect(await command(c, 'LISTSCRIPTS')).toMatch(/^OK/);
    const [session] = registry.list({ user: 'grace@example.com' });
    expect(session).toMatchObject({ protocol: 'managesieve', backend: 'mbox-a' });
    expect(session?.counts?.().up).toBeGreaterThan(0);
    expect(registry.kick('grace@example.com')).toBe(1);
    await c.waitClosed();
  });

  it('hangs up after the pre-login command limit', async () => {
    const c = await connect();
    c.write(Buffer.from('NOOP\r\n'.repeat(limits.commands + 5)));
    const lines = await c.until(/^BYE/);
    expect(lines.filter((l) => l === 'OK "NOOP completed."')).toHaveLength(limits.commands);
    expect(lines.at(-1)).toBe('BYE "Too many commands before login."');
    await c.waitClosed();
  });

  it('hangs up on a literal beyond the limit without reading it', async () => {
    const c = await connect();
    c.send(`AUTHENTICATE "PLAIN" {${limits.literalBytes + 1}+}`);
    expect(await c.until(/^BYE/)).toEqual(['BYE "literal too large"']);
    await c.waitClosed();
  });
});

describe('outages', () => {
  it('gives NO (TRYLATER) when the backend is down', async () => {
    const c = await connect();
    expect(await command(c, `AUTHENTICATE "PLAIN" "${plain('erin@example.com', 'erin-pw')}"`)).toBe(
      UNAVAILABLE,
    );
  });

  it('gives NO (TRYLATER) when the directory is down', async () => {
    await slapd.kill();
    const c = await connect();
    // Dave was never looked up, so no stale route can stand in for the directory.
    expect(await command(c, `AUTHENTICATE "PLAIN" "${plain('bob@example.com', 'x')}"`)).toMatch(
      /^NO/,
    );
    const d = await connect();
    expect(
      await command(d, `AUTHENTICATE "PLAIN" "${plain('never-seen@example.com', 'pw')}"`),
    ).toBe(UNAVAILABLE);
  });

  it('writes one line per session, protocol managesieve', () => {
    const closed = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'session closed');
    expect(closed).toContainEqual(
      expect.objectContaining({ proto: 'managesieve', user: 'bob@example.com', backend: 'mbox-b' }),
    );
  });
});
