import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SourceAddresses } from '../src/source-addresses.js';

const run = promisify(execFile);
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).pathname;

/**
 * In a network namespace of its own with 50 ephemeral ports, connects to one backend address
 * from `sources` until a connect fails; reports how many were held and the failure's code.
 */
async function exhaust(sources: string[]): Promise<{ held: number; code: string | undefined }> {
  const script = `
import { createServer } from 'node:net';
const { connectBackend } = await import(${JSON.stringify(dist('backend.js'))});
const { SourceAddresses } = await import(${JSON.stringify(dist('source-addresses.js'))});
const { localErrorCode } = await import(${JSON.stringify(dist('local-errors.js'))});
const pool = new SourceAddresses();
pool.set(${JSON.stringify(sources)}, {});
const server = createServer(() => {});
await new Promise((resolve) => server.listen(5000, '127.0.0.1', resolve));
let held = 0;
for (;;) {
  try {
    await connectBackend(
      { host: '127.0.0.1', port: 5000, implicitTls: false, tlsOptions: {}, sources: pool.order('b') },
      AbortSignal.timeout(2000),
    );
    held += 1;
  } catch (error) {
    console.log(JSON.stringify({ held, code: localErrorCode(error) }));
    process.exit(0);
  }
}`;
  const { stdout } = await run('unshare', [
    '-n',
    'sh',
    '-c',
    `ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="40000 40049" && exec "$0" --input-type=module -e "$1"`,
    process.execPath,
    script,
  ]);
  return JSON.parse(stdout) as { held: number; code: string | undefined };
}

describe('source addresses', () => {
  it('run out with the ephemeral ports of one source, as a local error', async () => {
    expect(await exhaust([])).toEqual({ held: 50, code: 'EADDRNOTAVAIL' });
    expect(await exhaust(['127.0.0.2'])).toEqual({ held: 50, code: 'EADDRINUSE' });
  });

  it('double the connections to one backend with two sources', async () => {
    expect(await exhaust(['127.0.0.2', '127.0.0.3'])).toEqual({ held: 100, code: 'EADDRINUSE' });
  });

  it('are taken in turn, each list on its own', () => {
    const pool = new SourceAddresses();
    pool.set(['10.0.0.1', '10.0.0.2'], { special: ['10.0.1.1'] });
    expect(pool.order('a')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(pool.order('b')).toEqual(['10.0.0.2', '10.0.0.1']);
    expect(pool.order('a')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(pool.order('special')).toEqual(['10.0.1.1']);
  });
});
