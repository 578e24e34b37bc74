import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { freePort, makeCertificates, tempDir } from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AddressSet,
  type ClientConnection,
  defaultLimits,
  encodeProxyV2,
  type ListenerSpec,
  listen,
  ServerTls,
} from '../src/index.js';

const dir = tempDir('listener');
const certs = makeCertificates(dir.path);
const tls = new ServerTls([{ cert: certs.cert, key: certs.key }]);
const limits = { ...defaultLimits, proxyHeaderTimeoutMs: 200 };
let server: Server | undefined;

afterEach(() => server?.close());
afterAll(() => dir.remove());

async function start(spec: Partial<ListenerSpec>, connections: ClientConnection[]) {
  const port = await freePort();
  server = await listen({
    spec: {
      name: 'test',
      host: '127.0.0.1',
      port,
      tls: 'none',
      proxyProtocol: false,
      trustedProxies: new AddressSet(['127.0.0.0/8']),
      ...spec,
    },
    tls,
    limits,
    log: pino({ level: 'silent' }),
    onConnection: (c) => connections.push(c),
  });
  return port;
}

/** Connects and resolves with how long the server took to close the connection. */
async function closedAfter(port: number, first?: Buffer): Promise<number> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.resume();
  await new Promise((resolve) => socket.once('connect', resolve));
  if (first) socket.write(first);
  const started = performance.now();
  await new Promise((resolve) => socket.once('close', resolve));
  return performance.now() - started;
}

describe('listener deadline', () => {
  it.each([
    ['a PROXY header', { proxyProtocol: true }],
    ['a TLS handshake', { tls: 'implicit' as const }],
  ])('a client that never sends %s is dropped after proxy_header_timeout', async (_what, spec) => {
    const connections: ClientConnection[] = [];
    const port = await start(spec, connections);
    const took = await closedAfter(port);
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(2000);
    expect(connections).toHaveLength(0);
  });

  it('a PROXY header in time gives the connection its client, and no timer cuts it later', async () => {
    const connections: ClientConnection[] = [];
    const port = await start({ proxyProtocol: true }, connections);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      encodeProxyV2({ address: '192.0.2.7', port: 4000 }, { address: '127.0.0.1', port }),
    );
    await expect.poll(() => connections.length).toBe(1);
    expect(connections[0]?.client.address).toBe('192.0.2.7');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(connections[0]?.socket.destroyed).toBe(false);
    socket.destroy();
  });
});

/** The keepalive timer of the accepted socket on `port`, from /proc/net/tcp (Linux). */
function keepaliveTimer(port: number): string | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // local address, state ESTABLISHED (01), timer "kind:when": 02 is the keepalive timer.
    if (fields[1]?.endsWith(`:${hex}`) && fields[3] === '01') return fields[5];
  }
  return undefined;
}

describe.runIf(process.platform === 'linux')('listener keepalive', () => {
  it('accepted sockets have keepalive from the listening socket, and say how long', async () => {
    const connections: ClientConnection[] = [];
    const port = await start({}, connections);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await expect.poll(() => connections.length).toBe(1);
    expect(connections[0]?.keepAliveMs).toBe(limits.tcpKeepaliveMs);
    const timer = keepaliveTimer(port);
    expect(timer?.startsWith('02:')).toBe(true);
    // In clock ticks (USER_HZ, 100 a second): close to tcp_keepalive.
    const ticks = Number.parseInt(timer?.slice(3) ?? '0', 16);
    expect(ticks * 10).toBeGreaterThan(limits.tcpKeepaliveMs - 5000);
    expect(ticks * 10).toBeLessThanOrEqual(limits.tcpKeepaliveMs);
    socket.destroy();
  });
});

/** TCP_NODELAY of a socket, read by perl through a copy of its descriptor. */
function noDelayOf(socket: Socket): Promise<number> {
  const script =
    'open(my $s, "+<&=", 3) or die "fd: $!"; ' +
    'my $v = getsockopt($s, IPPROTO_TCP, TCP_NODELAY) or die "getsockopt: $!"; ' +
    'print unpack("i", $v)';
  const perl = spawn('perl', ['-MSocket=IPPROTO_TCP,TCP_NODELAY', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit', socket],
  });
  let out = '';
  perl.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    perl.on('error', reject);
    perl.on('close', (code) =>
      code === 0 ? resolve(Number(out)) : reject(new Error(`perl exited with ${code}`)),
    );
  });
}

describe.runIf(process.platform === 'linux')('listener TCP_NODELAY', () => {
  it("accepted sockets have TCP_NODELAY: short replies do not wait for the client's ACK", async () => {
    const connections: ClientConnection[] = [];
    const port = await start({}, connections);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await expect.poll(() => connections.length).toBe(1);
    expect(await noDelayOf(connections[0]?.socket as Socket)).toBe(1);
    socket.destroy();
  });
});
