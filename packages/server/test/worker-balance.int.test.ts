import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, RawClient, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHasReusePort } from '../src/reuse-port.js';
import { NodeProcess } from './node-process.js';

const dir = tempDir('worker-balance');
const configPath = join(dir.path, 'homing.yaml');
let node: NodeProcess;
let port = 0;
let adminPort = 0;
const token = 'balance-token-0123456789';

/** The pool's homing_worker_balance_filling, as the primary's /metrics gives it. */
async function filling(): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return /^homing_worker_balance_filling (\d)$/m.exec(await response.text())?.[1];
}

/**
 * Steering needs a socket of its own for each worker (Node 22.12+): on an older Node running
 * the tests, homing runs on Node 24 from the npm registry (scripts/node-release.sh, as the
 * unit tests on every major and the bench fetch it).
 */
function nodeWithReusePort(): string {
  if (nodeHasReusePort()) return process.execPath;
  const script = new URL('../../../scripts/node-release.sh', import.meta.url).pathname;
  return `${execFileSync('bash', [script, '24'], { encoding: 'utf8' }).trim()}/node`;
}

function writeConfig(balance: string) {
  writeFileSync(
    configPath,
    `log: { level: info, format: json, flush_interval: 0 }
workers: 2
admin: { listen: 127.0.0.1:${adminPort}, token: ${token} }
worker_balance: { interval: 100ms${balance} }
directory:
  source: file
  file: { path: users.yaml }
listeners:
  - { protocol: pop3, listen: 127.0.0.1:${port}, tls: none, allow_plaintext_auth: true }
backends:
  mbox-a: { host: 127.0.0.1, pop3: { port: 9 } }
`,
  );
}

function workerPids(text: string): number[] {
  return [...new Set([...text.matchAll(/"worker":(\d+)/g)].map((m) => Number(m[1])))];
}

/** `count` clients greeted and gone; the workers whose sessions they were. */
async function sessionsOn(count: number): Promise<number[]> {
  const from = node.output.length;
  for (let i = 0; i < count; i += 1) {
    const client = await RawClient.connect({ port });
    await client.until(/^\+OK/);
    client.send('QUIT');
    await client.waitClosed();
  }
  const closed = () =>
    node.output
      .slice(from)
      .split('\n')
      .filter((line) => line.includes('"session closed"'));
  await expect.poll(() => closed().length, { timeout: 10_000 }).toBe(count);
  return workerPids(closed().join('\n'));
}

beforeAll(async () => {
  writeFileSync(join(dir.path, 'users.yaml'), 'users: {}\n');
  port = await freePort();
  adminPort = await freePort();
  writeConfig('');
  node = new NodeProcess(configPath, {}, [], nodeWithReusePort());
  await node.waitFor('homing ready', 20_000);
});

afterAll(async () => {
  node?.signal('SIGTERM');
  await node?.exited;
  dir.remove();
});

/** Reloads with `balance` added to worker_balance; the log from then once `line` is in it. */
async function reload(balance: string, line: string): Promise<string> {
  const from = node.output.length;
  writeConfig(balance);
  node.signal('SIGHUP');
  await node.waitFor('config reloaded by every worker', 10_000, from);
  await node.waitFor(line, 10_000, from);
  return node.output.slice(from);
}

describe('worker balance', () => {
  it('fills one worker with new connections while the pool is not busy (the default)', async () => {
    await node.waitFor('pool: one worker takes new connections');
    await expect.poll(filling).toBe('1');
    // Spread by the kernel's hash, sixteen connections would all reach one of two workers
    // once in 32768 runs.
    expect(await sessionsOn(16)).toHaveLength(1);
  });

  it('spreads them where set so, and fills one again when set back', async () => {
    const spread = await reload(', new_connections: spread', 'pool: new connections spread');
    expect(spread).toContain('"reason":"worker_balance.new_connections is spread"');
    await expect.poll(filling).toBe('0');
    expect(await sessionsOn(16)).toHaveLength(2);
    const filled = await reload('', 'pool: one worker takes new connections');
    expect(filled).toContain('"reason":"the pool is');
    // As after the start: the workers' sockets take the program before connections count.
    await expect.poll(filling).toBe('1');
    expect(await sessionsOn(16)).toHaveLength(1);
  });

  it('spreads them once the worker taking them is busy while CPUs are idle', async () => {
    // Busy from 0 with 0 CPUs idle: the next look at the load spreads.
    const log = await reload(', busy: 0, idle_cpus: 0', 'pool: new connections spread');
    expect(log).toMatch(/"reason":"a worker is \d+% busy and [\d.]+ CPUs idle"/);
    await expect.poll(filling).toBe('0');
    expect(await sessionsOn(16)).toHaveLength(2);
  });
});
