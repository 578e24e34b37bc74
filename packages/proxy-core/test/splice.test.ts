import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectWithOwnReads } from '../src/backend-reads.js';
import { Splice, type SpliceResult } from '../src/splice.js';

/** A splice whose end a test can wait for. */
class Watched extends Splice {
  readonly #ended = later<SpliceResult>();
  readonly done = this.#ended.promise;

  protected override ended(result: SpliceResult): void {
    this.#ended.resolve(result);
  }
}

interface Spliced {
  /** The user's end. */
  readonly user: Socket;
  /** The backend server's end. */
  readonly server: Socket;
  readonly splice: Watched;
}

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

/** user → homing's listener → splice → backend server, all on loopback, as in a session. */
async function spliced(ownReads: boolean): Promise<Spliced> {
  const server = later<Socket>();
  const backendPort = await listen((socket) => server.resolve(socket));
  const piped = later<Watched>();
  const port = await listen((client) => {
    // As the session leaves it: paused since the login.
    client.pause();
    const backend = ownReads
      ? connectWithOwnReads('127.0.0.1', backendPort)
      : connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
    backend.once('connect', () => piped.resolve(new Watched(client, backend)));
  });
  const user = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  return { user, server: await server.promise, splice: await piped.promise };
}

/** Promise.withResolvers, which Node 20 lacks. */
function later<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

describe.each([
  ['a backend socket as it comes', false],
  ['a backend whose reads homing manages', true],
])('splice with %s', (_, ownReads) => {
  it('relays both ways, counts the bytes and ends with the side that ended', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    const atServer = collect(server);
    user.end('a1 NOOP\r\n');
    expect((await atServer).toString()).toBe('a1 NOOP\r\n');
    // The user's FIN closed only the way up: the backend still answers.
    const atUser = collect(user);
    server.end('a1 OK done\r\n');
    expect((await atUser).toString()).toBe('a1 OK done\r\n');
    expect(await piped.done).toEqual({ up: 9, down: 12, reason: 'client' });
  });

  it('passes the backend closing on to the user', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    const atUser = collect(user);
    server.write('* OK\r\n');
    await once(user, 'data');
    expect(piped.counts()).toEqual({ up: 0, down: 6 });
    server.end('* BYE\r\n');
    expect((await atUser).toString()).toBe('* OK\r\n* BYE\r\n');
    user.end();
    expect(await piped.done).toEqual({ up: 0, down: 13, reason: 'backend' });
  });

  it('pauses a fast backend while the user does not read, and loses nothing', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    user.pause();
    const total = 64 * 1024 * 1024;
    const sent = createHash('sha256');
    let written = 0;
    let blocked = false;
    const writeMore = () => {
      while (written < total) {
        // Never the same bytes at the same place of a read buffer: a buffer reused too early shows.
        const chunk = randomBytes(Math.min(65_537, total - written));
        sent.update(chunk);
        written += chunk.length;
        if (!server.write(chunk)) {
          blocked = true;
          server.once('drain', writeMore);
          return;
        }
      }
      server.end();
    };
    writeMore();
    await new Promise((r) => setTimeout(r, 300));
    // Kernel buffers on loopback hold some megabytes, homing holds next to nothing more.
    expect(blocked).toBe(true);
    expect(piped.counts().down).toBeLessThan(total / 2);

    const received = createHash('sha256');
    let bytes = 0;
    user.on('data', (data: Buffer) => {
      received.update(data);
      bytes += data.length;
    });
    user.resume();
    await once(user, 'end');
    expect(bytes).toBe(total);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    user.end();
    expect((await piped.done).down).toBe(total);
  });

  it('pauses a fast user while the backend does not read', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    server.pause();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let written = 0;
    while (user.write(chunk)) written += chunk.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(piped.counts().up).toBeLessThan(written + 32 * 1024 * 1024);
    const before = piped.counts().up;
    await new Promise((r) => setTimeout(r, 100));
    expect(piped.counts().up).toBe(before);
    piped.destroy('test over');
    expect((await piped.done).reason).toBe('test over');
  });

  it('ends both sides on destroy(reason)', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    const userEnded = once(user.resume(), 'end');
    const serverEnded = once(server.resume(), 'end');
    piped.destroy('kicked');
    await Promise.all([userEnded, serverEnded]);
    expect(await piped.done).toEqual({ up: 0, down: 0, reason: 'kicked' });
  });

  it('closes both sides when one fails', async () => {
    const { user, server, splice: piped } = await spliced(ownReads);
    const userEnded = once(user.resume(), 'end');
    server.resetAndDestroy();
    await userEnded;
    expect((await piped.done).reason).toMatch(/^error: backend: /);
  });
});
