import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import {
  Dovecot,
  freePort,
  RawClient,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHasReusePort } from '../src/reuse-port.js';
import { NodeProcess } from './node-process.js';

const dir = tempDir('workers');
let slapd: Slapd;
let dovecot: Dovecot;
let node: NodeProcess;
const ports = { admin: 0, imap: 0 };

async function login() {
  const client = await RawClient.connect({ port: ports.imap });
  await client.until(/^\* OK /);
  client.send('a LOGIN alice@example.com alice-pw');
  const reply = (await client.until(/^a /)).at(-1) as string;
  return { client, reply };
}

async function admin(path: string, init: RequestInit = {}) {
  const response = await fetch(`http://127.0.0.1:${ports.admin}${path}`, {
    ...init,
    headers: { authorization: 'Bearer workers-token-0123456789' },
  });
  return { status: response.status, text: await response.text() };
}

/** Listening TCP sockets on 127.0.0.1:port, from /proc/net/tcp (one per SO_REUSEPORT bind). */
function listeningSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A';
    }).length;
}

function workerPids(output: string): number[] {
  return [...new Set([...output.matchAll(/"worker":(\d+)/g)].map((m) => Number(m[1])))];
}

/** The nice value of each thread of `pid` (/proc/PID/task/TID/stat, the 19th field). */
function niceValues(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const configPath = join(dir.path, 'homing.yaml');

/** Logins over both workers from the start (worker-balance.int.test.ts has filling). */
const spreading = 'worker_balance: { new_connections: spread }';

function writeConfig(extra = '', balance = spreading) {
  writeFileSync(
    configPath,
    `log: { level: info, format: json }
workers: 2
${balance}
process_priority: 3
drain_timeout: 1s
admin: { listen: 127.0.0.1:${ports.admin}, token: workers-token-0123456789 }
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
listeners:
  - { protocol: imap, listen: 127.0.0.1:${ports.imap}, tls: none, allow_plaintext_auth: true }
${extra}backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort} }
`,
  );
}

beforeAll(async () => {
  [slapd, dovecot] = await Promise.all([
    Slapd.start([{ uid: 'alice', mail: 'alice@example.com', password: 'x', mailHost: 'mbox-a' }]),
    Dovecot.start({ name: 'A', users: [{ user: 'alice@example.com', password: 'alice-pw' }] }),
  ]);
  ports.admin = await freePort();
  ports.imap = await freePort();
  writeConfig();
  node = new NodeProcess(configPath);
  await node.waitFor('homing ready', 20_000);
  // The tests find the workers by their log lines, which each writes within log.flush_interval.
  const deadline = Date.now() + 10_000;
  while (workerPids(node.output).length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
});

afterAll(async () => {
  node?.signal('SIGKILL');
  for (const pid of workerPids(node?.output ?? '')) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all([slapd?.destroy(), dovecot?.destroy()]);
  dir.remove();
});

describe('workers', () => {
  it('serves logins from two worker processes and adds their metrics and sessions up', async () => {
    expect(workerPids(node.output)).toHaveLength(2);
    const sessions = await Promise.all([login(), login(), login(), login()]);
    for (const s of sessions) expect(s.reply).toMatch(/^a OK /);
    const list = JSON.parse((await admin('/sessions')).text) as { sessions: unknown[] };
    expect(list.sessions).toHaveLength(4);
    const metrics = (await admin('/metrics')).text;
    expect(metrics).toMatch(/homing_sessions\{protocol="imap",backend="mbox-a"\} 4/);
    expect(metrics).toMatch(/homing_logins_total\{protocol="imap",outcome="ok"\} 4/);
    const kicked = await admin('/sessions/kick', {
      method: 'POST',
      body: JSON.stringify({ user: 'alice@example.com' }),
    });
    expect(JSON.parse(kicked.text)).toEqual({ kicked: 4 });
    for (const s of sessions) await s.client.waitClosed();
    const ready = await admin('/readyz');
    expect(ready.status).toBe(200);
    // Which it is depends on how the kernel spread the logins over the workers.
    expect(JSON.parse(ready.text)).toEqual({
      ready: true,
      directory: expect.stringMatching(/^(cache warm|reachable)$/),
    });
  });

  it('a freeze through the primary holds in every worker (each keeps its own, no Redis) until thawed', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${ports.admin}${path}`, {
        method: 'POST',
        headers: { authorization: 'Bearer workers-token-0123456789' },
        body: JSON.stringify(body),
      }).then((r) => r.json());
    expect(await post('/users/freeze', { user: 'alice@example.com', ms: 60_000 })).toMatchObject({
      frozen_ms: 60_000,
    });
    // Connections spread over both workers: every one of them refuses.
    for (let i = 0; i < 6; i += 1) {
      const { client, reply } = await login();
      expect(reply).toMatch(/^a NO \[UNAVAILABLE\] /);
      client.close();
    }
    await post('/users/thaw', { user: 'alice@example.com' });
    const { client, reply } = await login();
    expect(reply).toMatch(/^a OK /);
    client.close();
  });

  it('runs every thread of the primary and of each worker at process_priority', async () => {
    expect(node.output).toContain('process priority set');
    const pids = [node.child.pid as number, ...workerPids(node.output)];
    expect(pids).toHaveLength(3);
    for (const pid of pids) {
      const values = niceValues(pid);
      expect(values.length).toBeGreaterThan(1); // V8's threads, started before the value was set
      expect(values).toEqual(values.map(() => 3));
    }
  });

  it('accepts connections in the workers, not in the primary', async () => {
    // A primary that accepted and passed on connections would leave this one unanswered.
    node.signal('SIGSTOP');
    try {
      const sessions = await Promise.all([login(), login(), login(), login()]);
      for (const s of sessions) {
        expect(s.reply).toMatch(/^a OK /);
        s.client.close();
      }
    } finally {
      node.signal('SIGCONT');
    }
    // Node 22.12+: a socket of its own for each worker; before that, the one the primary shares.
    expect(listeningSockets(ports.imap)).toBe(nodeHasReusePort() ? 2 : 1);
  });

  it('replaces a killed worker and keeps serving', async () => {
    const [victim] = workerPids(node.output);
    process.kill(victim as number, 'SIGKILL');
    await node.waitFor('worker died: starting a new one');
    await expect.poll(() => workerPids(node.output).length, { timeout: 10_000 }).toBe(3);
    for (let i = 0; i < 4; i += 1) {
      const s = await login();
      expect(s.reply).toMatch(/^a OK /);
      s.client.close();
    }
  });

  it('refuses a reload whose new listener cannot bind; a worker replaced meanwhile runs the running config', async () => {
    const live = await login();
    expect(live.reply).toMatch(/^a OK /);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const busy = (taken.address() as AddressInfo).port;
    const listener = `  - { protocol: pop3, listen: 127.0.0.1:${busy}, tls: none }\n`;
    let from = node.output.length;
    writeConfig(listener);
    node.signal('SIGHUP');
    await node.waitFor('reload refused', 10_000, from);
    expect(node.output.slice(from)).toContain('EADDRINUSE');
    await expect
      .poll(async () => (await admin('/metrics')).text)
      .toContain('homing_config_last_reload_successful 0');
    live.client.send('b NOOP');
    expect((await live.client.until(/^b /)).at(-1)).toMatch(/^b OK/);
    const other = await login();
    expect(other.reply).toMatch(/^a OK /);
    other.client.close();

    // A worker that dies now is replaced by one on the running config, not on the refused file.
    const pids = workerPids(node.output);
    const died = node.output.length;
    process.kill(pids.at(-1) as number, 'SIGKILL');
    await node.waitFor('worker died', 10_000, died);
    await expect
      .poll(() => workerPids(node.output).length, { timeout: 10_000 })
      .toBe(pids.length + 1);
    await expect
      .poll(() => node.output.slice(died).includes('"msg":"listening"'), { timeout: 10_000 })
      .toBe(true);
    expect(node.output.slice(died)).not.toContain('could not start');
    for (let i = 0; i < 4; i += 1) {
      const s = await login();
      expect(s.reply).toMatch(/^a OK /);
      s.client.close();
    }

    await new Promise<void>((resolve) => taken.close(() => resolve()));
    from = node.output.length;
    node.signal('SIGHUP');
    await node.waitFor('config reloaded by every worker', 10_000, from);
    const pop3 = await RawClient.connect({ port: busy });
    expect((await pop3.until(/^\+OK/)).at(-1)).toMatch(/^\+OK/);
    pop3.close();
    expect((await admin('/metrics')).text).toContain('homing_config_last_reload_successful 1');
    live.client.close();
  });

  it('stops all workers on SIGTERM and exits 0', async () => {
    node.signal('SIGTERM');
    expect(await node.exited).toBe(0);
    await expect(RawClient.connect({ port: ports.imap })).rejects.toThrow();
  });
});
