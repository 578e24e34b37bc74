import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  Dovecot,
  freePort,
  issueServerCertificate,
  makeCertificates,
  RawClient,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homingBin, NodeProcess } from './node-process.js';

const run = promisify(execFile);

const dir = tempDir('ops');
const token = 'admin-token-0123456789';
let slapd: Slapd;
let a: Dovecot;
let b: Dovecot;
let node: NodeProcess;
let certs: ReturnType<typeof makeCertificates>;
const ports = { admin: 0, imap: 0, imaps: 0, smtp: 0 };
const configPath = join(dir.path, 'homing.yaml');

/** The config; `bobHome` lets a test move bob's mailbox backend by reload. */
function writeConfig(options: {
  bobBackendPort: number;
  cert: { cert: string; key: string };
  maxConnections?: number;
  /** One more IMAP listener, on this port. */
  extraPort?: number;
}) {
  writeFileSync(
    configPath,
    `log:
  level: info
  format: json
drain_timeout: 3s
admin:
  listen: 127.0.0.1:${ports.admin}
  token: ${token}
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
listeners:
  - protocol: imap
    listen: 127.0.0.1:${ports.imap}
    tls: starttls
    allow_plaintext_auth: true
  - protocol: imap
    listen: 127.0.0.1:${ports.imaps}
    tls: implicit
  - protocol: smtp
    listen: 127.0.0.1:${ports.smtp}
    tls: none
${options.extraPort ? `  - protocol: imap\n    listen: 127.0.0.1:${options.extraPort}\n    tls: none\n    allow_plaintext_auth: true\n` : ''}tls:
  certificates:
    - cert: ${options.cert.cert}
      key: ${options.cert.key}
limits:
  failed_login_delay: 500ms
abuse:
  max_connections_per_address: ${options.maxConnections ?? 20}
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${a.imapPort} }
    lmtp: { port: ${a.lmtpPort} }
  mbox-b:
    host: 127.0.0.1
    imap: { port: ${options.bobBackendPort} }
    lmtp: { port: ${b.lmtpPort} }
`,
  );
}

async function admin(path: string, init: RequestInit & { auth?: boolean } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.auth !== false) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`http://127.0.0.1:${ports.admin}${path}`, { ...init, headers });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function imapLogin(user: string, port = ports.imap) {
  const client = await RawClient.connect({ port });
  await client.until(/^\* OK /);
  client.send(`a LOGIN ${user}@example.com ${user}-pw`);
  const reply = (await client.until(/^a /)).at(-1) as string;
  return { client, reply };
}

beforeAll(async () => {
  certs = makeCertificates(dir.path);
  [slapd, a, b] = await Promise.all([
    Slapd.start([
      { uid: 'alice', mail: 'alice@example.com', password: 'x', mailHost: 'mbox-a' },
      { uid: 'bob', mail: 'bob@example.com', password: 'x', mailHost: 'mbox-b' },
    ]),
    Dovecot.start({ name: 'A', users: [{ user: 'alice@example.com', password: 'alice-pw' }] }),
    Dovecot.start({ name: 'B', users: [{ user: 'bob@example.com', password: 'bob-pw' }] }),
  ]);
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
  writeConfig({ bobBackendPort: b.imapPort, cert: certs });
  node = new NodeProcess(configPath);
  await node.waitFor('homing ready');
});

afterAll(async () => {
  node?.signal('SIGKILL');
  await Promise.all([slapd?.destroy(), a?.destroy(), b?.destroy()]);
  dir.remove();
});

describe('admin API', () => {
  it('answers /healthz and /readyz without the token, and nothing else', async () => {
    expect((await admin('/healthz', { auth: false })).status).toBe(200);
    const ready = await admin('/readyz', { auth: false });
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true });
    for (const path of [
      '/metrics',
      '/sessions',
      '/backends',
      '/directory/lookup?address=alice@example.com',
    ]) {
      expect((await admin(path, { auth: false })).status).toBe(401);
    }
    expect(
      (await admin('/sessions/kick', { method: 'POST', body: '{"user":"x"}', auth: false })).status,
    ).toBe(401);
    expect((await admin('/nope')).status).toBe(404);
    expect((await admin('/sessions/kick')).status).toBe(405);
  });

  it('lists sessions, kicks by user, and counts in /metrics', async () => {
    const { client, reply } = await imapLogin('alice');
    expect(reply).toMatch(/^a OK /);
    const sessions = (await admin('/sessions?user=alice@example.com')).json().sessions as {
      backend: string;
    }[];
    expect(sessions).toEqual([
      expect.objectContaining({ user: 'alice@example.com', backend: 'mbox-a', protocol: 'imap' }),
    ]);
    const metrics = (await admin('/metrics')).text;
    expect(metrics).toMatch(/homing_sessions\{protocol="imap",backend="mbox-a"\} 1/);
    expect(metrics).toMatch(/homing_logins_total\{protocol="imap",outcome="ok"\} [1-9]/);
    expect(metrics).toMatch(
      /homing_backend_connect_seconds_count\{backend="mbox-a",protocol="imap",result="ok"\} [1-9]/,
    );
    expect(metrics).toMatch(/homing_directory_cache_total\{event="miss"\} [1-9]/);
    const kicked = await admin('/sessions/kick', {
      method: 'POST',
      body: JSON.stringify({ user: 'alice@example.com' }),
    });
    expect(kicked.json()).toEqual({ kicked: 1 });
    await client.waitClosed();
    expect((await admin('/sessions/kick', { method: 'POST', body: 'not json' })).status).toBe(400);
  });

  it('flushes the directory cache for one user or all', async () => {
    await admin('/directory/lookup?address=bob@example.com');
    expect((await admin('/directory/lookup?address=bob@example.com')).json()).toMatchObject({
      origin: 'cache',
    });
    await admin('/directory/flush', {
      method: 'POST',
      body: JSON.stringify({ address: 'bob@example.com' }),
    });
    expect((await admin('/directory/lookup?address=bob@example.com')).json()).toMatchObject({
      origin: 'ldap',
    });
    await admin('/directory/flush', { method: 'POST' });
    expect((await admin('/directory/lookup?address=bob@example.com')).json()).toMatchObject({
      origin: 'ldap',
    });
  });

  it('has CLI wrappers: sessions, kick, flush', async () => {
    const { client, reply } = await imapLogin('bob');
    expect(reply).toMatch(/^a OK /);
    const cli = (...args: string[]) =>
      run(process.execPath, [homingBin, ...args, '-c', configPath]);
    expect((await cli('sessions', '--user', 'bob@example.com')).stdout).toMatch(
      /imap\s+bob@example\.com\s+127\.0\.0\.1\s+mbox-b/,
    );
    expect((await cli('kick', 'bob@example.com')).stdout).toBe(
      'bob@example.com: 1 session(s) closed\n',
    );
    await client.waitClosed();
    expect((await cli('flush', 'bob@example.com')).stdout).toBe('flushed bob@example.com\n');
    expect((await cli('flush')).stdout).toBe('flushed the whole directory cache\n');
  });

  it('shows backend state', async () => {
    const backends = (await admin('/backends')).json();
    expect(backends).toHaveProperty('backends');
  });
});

describe('SIGHUP reload', () => {
  it('applies a changed backend catalog and a new certificate without dropping a spliced session', async () => {
    const live = await imapLogin('alice');
    expect(live.reply).toMatch(/^a OK /);
    // bob's backend moves to a port where nothing listens, and the certificate is replaced.
    const other = issueServerCertificate(certs, dir.path, 'other', [
      'localhost',
      'reloaded.example.com',
    ]);
    const from = node.output.length;
    writeConfig({ bobBackendPort: await freePort(), cert: other });
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, from);

    const bob = await imapLogin('bob');
    expect(bob.reply).toMatch(/^a NO \[UNAVAILABLE\]/);
    bob.client.close();

    const tls = await RawClient.connect({ port: ports.imaps, tls: { ca: certs.caCertPem } });
    expect(
      (tls.socket as import('node:tls').TLSSocket).getPeerX509Certificate()?.subjectAltName,
    ).toContain('reloaded.example.com');
    tls.close();

    live.client.send('b NOOP');
    expect((await live.client.until(/^b /)).at(-1)).toMatch(/^b OK/);
    live.client.close();

    writeConfig({ bobBackendPort: b.imapPort, cert: certs });
    const again = node.output.length;
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, again);
    const back = await imapLogin('bob');
    expect(back.reply).toMatch(/^a OK /);
    back.client.close();
  });

  it('applies new abuse limits to the next connections', async () => {
    let from = node.output.length;
    writeConfig({ bobBackendPort: b.imapPort, cert: certs, maxConnections: 1 });
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, from);
    const first = await RawClient.connect({ port: ports.imap });
    await first.until(/^\* OK /);
    const second = await RawClient.connect({ port: ports.imap });
    expect((await second.until(/^\* /)).at(-1)).toMatch(
      /^\* BYE \[UNAVAILABLE\] Too many connections/,
    );
    first.close();
    second.close();
    from = node.output.length;
    writeConfig({ bobBackendPort: b.imapPort, cert: certs });
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, from);
  });

  it('refuses a config it cannot apply, whole, with sessions and the node untouched', async () => {
    const spliced = await imapLogin('alice');
    expect(spliced.reply).toMatch(/^a OK /);
    const smtp = await RawClient.connect({ port: ports.smtp });
    await smtp.until(/^220 /);
    for (const line of ['EHLO test', 'MAIL FROM:<s@example.net>', 'RCPT TO:<bob@example.com>']) {
      smtp.send(line);
      expect((await smtp.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    }
    const other = issueServerCertificate(certs, dir.path, 'unpaired', ['localhost']);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const busy = (taken.address() as AddressInfo).port;
    const bad = [
      { cert: { cert: join(dir.path, 'missing.crt'), key: certs.key }, why: /missing\.crt/ },
      { cert: { cert: certs.cert, key: other.key }, why: /key values mismatch/ },
      { cert: certs, extraPort: busy, why: /EADDRINUSE/ },
    ];
    for (const [i, { why, ...config }] of bad.entries()) {
      const from = node.output.length;
      writeConfig({ bobBackendPort: b.imapPort, ...config });
      node.signal('SIGHUP');
      await node.waitFor('reload refused', 10_000, from);
      expect(node.output.slice(from)).toMatch(why);
      const metrics = (await admin('/metrics')).text;
      expect(metrics).toContain(`homing_config_reload_total{result="refused"} ${i + 1}`);
      expect(metrics).toContain('homing_config_last_reload_successful 0');

      spliced.client.send(`n${i} NOOP`);
      expect((await spliced.client.until(new RegExp(`^n${i} `))).at(-1)).toMatch(/ OK/);
      smtp.send('NOOP');
      expect((await smtp.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
      const fresh = await imapLogin('bob');
      expect(fresh.reply).toMatch(/^a OK /);
      fresh.client.close();
    }
    taken.close();
    expect(node.child.exitCode).toBeNull();

    smtp.send('DATA');
    expect((await smtp.until(/^\d{3} /)).at(-1)).toMatch(/^354 /);
    smtp.write('Subject: across refused reloads\r\n\r\nstill arrives\r\n.\r\n');
    expect((await smtp.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    smtp.close();

    // The same listener, now that its port is free, and a good config apply.
    const from = node.output.length;
    writeConfig({ bobBackendPort: b.imapPort, cert: certs, extraPort: busy });
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, from);
    const added = await imapLogin('alice', busy);
    expect(added.reply).toMatch(/^a OK /);
    added.client.close();
    expect((await admin('/metrics')).text).toContain('homing_config_last_reload_successful 1');
    spliced.client.send('z NOOP');
    expect((await spliced.client.until(/^z /)).at(-1)).toMatch(/^z OK/);
    spliced.client.close();

    const back = node.output.length;
    writeConfig({ bobBackendPort: b.imapPort, cert: certs });
    node.signal('SIGHUP');
    await node.waitFor('config reloaded', 10_000, back);
  });

  it('keeps the running config when the new one does not validate', async () => {
    writeFileSync(configPath, 'directory:\n  source: nonsense\n');
    const from = node.output.length;
    node.signal('SIGHUP');
    await node.waitFor('reload refused', 10_000, from);
    const still = await imapLogin('alice');
    expect(still.reply).toMatch(/^a OK /);
    still.client.close();
    writeConfig({ bobBackendPort: b.imapPort, cert: certs });
  });
});

describe('SIGTERM drain', () => {
  it('lets a spliced IMAP session and an SMTP DATA finish, closes the rest, exits 0', async () => {
    const spliced = await imapLogin('alice');
    expect(spliced.reply).toMatch(/^a OK /);
    const preauth = await RawClient.connect({ port: ports.imap });
    await preauth.until(/^\* OK /);
    const smtp = await RawClient.connect({ port: ports.smtp });
    await smtp.until(/^220 /);
    for (const line of [
      'EHLO test',
      'MAIL FROM:<s@example.net>',
      'RCPT TO:<bob@example.com>',
      'DATA',
    ]) {
      smtp.send(line);
      await smtp.until(/^\d{3} /);
    }
    smtp.write('Subject: sent during drain\r\n\r\nstill arrives\r\n');

    node.signal('SIGTERM');
    await node.waitFor('stopping');
    // New connections are refused; the pre-login one is told to go.
    expect((await preauth.until(/^\* BYE /)).at(-1)).toMatch(/shutting down/);
    await expect(RawClient.connect({ port: ports.imap })).rejects.toThrow();

    // The transaction in flight completes, and then the SMTP session is closed with 421.
    smtp.write('.\r\n');
    expect((await smtp.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    expect((await smtp.until(/^421 /)).at(-1)).toMatch(/^421 /);
    await expect
      .poll(() => b.readMessages('bob@example.com').some((m) => m.includes('sent during drain')))
      .toBe(true);

    // The spliced session still works until the drain timeout ends it.
    spliced.client.send('n NOOP');
    expect((await spliced.client.until(/^n /)).at(-1)).toMatch(/^n OK/);
    await spliced.client.waitClosed(6000);
    expect(await node.exited).toBe(0);
    expect(node.output).toContain('drain timeout');
  });
});
