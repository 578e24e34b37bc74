import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ensureDebianPackages, freePort, makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from './node-process.js';

const dir = tempDir('metrics');
const token = 'metrics-token-0123456789';
const nodes: NodeProcess[] = [];

/** A node on free ports with an implicit-TLS IMAP listener; `workers` processes. */
async function startNode(workers: number) {
  const certs = makeCertificates(dir.path);
  const ports = { admin: await freePort(), imaps: await freePort() };
  writeFileSync(join(dir.path, 'users.yaml'), 'users:\n  alice@example.com:\n    home: mbox-a\n');
  const config = join(dir.path, `homing-${workers}.yaml`);
  writeFileSync(
    config,
    `workers: ${workers}
log:
  format: json
admin:
  listen: 127.0.0.1:${ports.admin}
  token: ${token}
directory:
  source: file
  file:
    path: users.yaml
listeners:
  - protocol: imap
    name: imaps
    listen: 127.0.0.1:${ports.imaps}
    tls: implicit
tls:
  certificates:
    - cert: ${certs.cert}
      key: ${certs.key}
backend_health:
  probe_interval: 0s
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${await freePort()} }
`,
  );
  const node = new NodeProcess(config);
  nodes.push(node);
  await node.waitFor('homing ready');
  return { node, ports };
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return response.text();
}

/** Runs `promtool check metrics` on the text; resolves with its complaints (none: ''). */
async function promtoolCheck(text: string): Promise<string> {
  const child = execFile('promtool', ['check', 'metrics']);
  child.stdin?.end(text);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return code === 0 ? output.trim() : `exit ${code}: ${output}`;
}

/** Opens a connection to a TLS port and sends a line that is not a TLS ClientHello. */
async function failHandshake(port: number) {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('a LOGIN not-tls\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
}

beforeAll(() => {
  ensureDebianPackages({ promtool: 'prometheus' });
});

afterAll(() => {
  for (const node of nodes) node.signal('SIGKILL');
  dir.remove();
});

describe('/metrics', () => {
  it('passes promtool check metrics and has what an operator looks for', async () => {
    const { ports } = await startNode(1);
    await failHandshake(ports.imaps);

    const text = await scrape(ports.admin);
    expect(await promtoolCheck(text)).toBe('');
    for (const name of [
      'process_open_fds',
      'process_max_fds',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
    expect(text).toMatch(/^homing_build_info\{version="[^"]+",nodejs="[\d.]+"\} 1$/m);
    const expiry = /^homing_tls_certificate_expiry_timestamp_seconds\{[^}]*\} (\d+)$/m.exec(text);
    // The test certificates are valid for 30 days.
    expect(Number(expiry?.[1]) - Date.now() / 1000).toBeGreaterThan(29 * 86400);
    expect(text).toMatch(/^homing_tls_handshake_failures_total 1$/m);
    expect(text).toMatch(/^homing_connections_total\{listener="imaps",protocol="imap"\} 1$/m);
    expect(text).toMatch(/^homing_connections\{listener="imaps",protocol="imap"\} 0$/m);
    expect(text).toMatch(/^homing_directory_query_seconds_bucket\{le="0.005"\} \d+$/m);
    expect(text).toMatch(/^homing_directory_query_seconds_bucket\{le="\+Inf"\} \d+$/m);
  });

  it('exports every metric the shipped alert rules and dashboard use', async () => {
    const { ports } = await startNode(1);
    const text = await scrape(ports.admin);
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    const used = new Set<string>();
    for (const file of ['alerts.yaml', 'dashboard.json']) {
      const source = readFileSync(new URL(`../../../deploy/monitoring/${file}`, import.meta.url));
      for (const m of source.toString().matchAll(/\b((?:homing|process|nodejs)_[a-z0-9_]+)/g))
        used.add((m[1] as string).replace(/_(bucket|count|sum)$/, ''));
    }
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('passes promtool check metrics when a primary combines two workers', async () => {
    const { ports } = await startNode(2);
    await failHandshake(ports.imaps);
    await failHandshake(ports.imaps);
    const text = await scrape(ports.admin);
    expect(await promtoolCheck(text)).toBe('');
    expect(text).toMatch(/^homing_tls_handshake_failures_total 2$/m);
    expect(text).toMatch(/^homing_connections_total\{listener="imaps",protocol="imap"\} 2$/m);
    expect(text).toMatch(/^homing_build_info\{[^}]*\} 1$/m);
  });
});
