import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { keepAliveWaiting } from '../src/keepalive.js';
import { noMetrics, type ProxyMetrics } from '../src/metrics.js';
import { SessionRegistry } from '../src/sessions.js';
import { SplicedSession } from '../src/spliced-session.js';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** The user's end, homing's two sockets and the backend server's end, on loopback. */
async function fourEnds(): Promise<{
  user: Socket;
  client: Socket;
  backend: Socket;
  server: Socket;
}> {
  let server: Socket | undefined;
  const backendPort = await listen((socket) => {
    server = socket;
  });
  let client: Socket | undefined;
  const port = await listen((socket) => {
    socket.pause();
    client = socket;
  });
  const user = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const backend = connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
  await Promise.all([once(user, 'connect'), once(backend, 'connect')]);
  while (!client || !server) await new Promise((resolve) => setTimeout(resolve, 5));
  return { user, client, backend, server };
}

describe('SplicedSession', () => {
  it('is listed with its counts, is kicked by user and logs one closing line', async () => {
    const { user, client, backend, server } = await fourEnds();
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { base: { proto: 'imap' } },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const spliced: [string, number, number][] = [];
    const metrics: ProxyMetrics = {
      ...noMetrics,
      spliced: (protocol, up, down) => spliced.push([protocol, up, down]),
    };
    const registry = new SessionRegistry();
    let released = 0;
    const startedAt = Date.now() - 1000;
    new SplicedSession(client, backend, {
      id: 'sid1',
      protocol: 'imap',
      client: '192.0.2.7',
      startedAt,
      user: 'alice@example.com',
      backend: 'mbox-a',
      log,
      metrics,
      registry,
      release: () => {
        released += 1;
      },
      backendKeepAliveMs: 300_000,
    });
    // The backend socket waits for its keepalive while the session lasts...
    expect(keepAliveWaiting()).toBe(1);

    user.write('a1 NOOP\r\n');
    await once(server, 'data');
    server.write('a1 OK\r\n');
    await once(user, 'data');
    const [info] = registry.list({ user: 'alice@example.com' });
    expect(info).toMatchObject({
      id: 'sid1',
      protocol: 'imap',
      client: '192.0.2.7',
      user: 'alice@example.com',
      backend: 'mbox-a',
    });
    expect(info?.since.getTime()).toBe(startedAt);
    expect(info?.counts?.()).toEqual({ up: 9, down: 7 });

    const userEnded = once(user, 'end');
    expect(registry.kick('alice@example.com')).toBe(1);
    await userEnded;
    await expect.poll(() => registry.size).toBe(0);
    expect(released).toBe(1);
    // ...and is let go when it ends, not a sweep or two later.
    expect(keepAliveWaiting()).toBe(0);
    expect(spliced).toEqual([['imap', 9, 7]]);
    expect(lines).toEqual([
      expect.objectContaining({
        proto: 'imap',
        msg: 'session closed',
        sid: 'sid1',
        client: '192.0.2.7',
        user: 'alice@example.com',
        backend: 'mbox-a',
        bytes_up: 9,
        bytes_down: 7,
        reason: 'kicked',
      }),
    ]);
    expect(lines[0]?.duration_ms).toBeGreaterThanOrEqual(1000);
    user.destroy();
    server.destroy();
  });
});
