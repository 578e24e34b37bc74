import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectWithOwnReads } from '../src/backend-reads.js';
import {
  kernelRelayAvailable,
  lingerInKernel,
  relayThreadAfter,
  useKernelRelay,
} from '../src/kernel-relay.js';
import { Splice, type SpliceResult } from '../src/splice.js';

const run = promisify(execFile);

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

/**
 * user → homing's listener → splice → backend server, all on loopback, as in a session.
 * `before` runs on both ends once connected and before the splice (bytes said early).
 */
async function spliced(
  ownReads: boolean,
  before?: (user: Socket, server: Socket) => Promise<void>,
): Promise<Spliced & { client: Socket }> {
  const server = later<Socket>();
  const backendPort = await listen((socket) => server.resolve(socket));
  const piped = later<{ client: Socket; splice: Watched }>();
  const user = later<Socket>();
  const port = await listen((client) => {
    // As the session leaves it: paused since the login.
    client.pause();
    const backend = ownReads
      ? connectWithOwnReads('127.0.0.1', backendPort)
      : connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
    backend.once('connect', async () => {
      if (before) await before(await user.promise, await server.promise);
      piped.resolve({ client, splice: new Watched(client, backend) });
    });
  });
  user.resolve(connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
  const { client, splice } = await piped.promise;
  return { user: await user.promise, server: await server.promise, splice, client };
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
  ['in Node, a backend socket as it comes', false, false, false],
  ['in Node, a backend whose reads homing manages', false, true, false],
  ['in the kernel, a backend socket as it comes', true, false, false],
  ['in the kernel, a backend whose reads homing manages', true, true, false],
  // Every relay stays where a login's does, waits for a slow side included.
  ['in the kernel, on the JavaScript thread only', true, false, true],
])('splice %s', (_, kernel, ownReads, jsThreadOnly) => {
  let threadAfter = 0;
  beforeAll(() => {
    useKernelRelay(kernel);
    if (jsThreadOnly) threadAfter = relayThreadAfter(Number.POSITIVE_INFINITY);
  });
  afterAll(() => {
    useKernelRelay(true);
    if (jsThreadOnly) relayThreadAfter(threadAfter);
  });

  it('moves the bytes where it says (the kernel relay: none through Node)', async () => {
    const { user, server, client } = await spliced(ownReads);
    const readByNode = client.bytesRead;
    const atServer = collect(server);
    user.end(Buffer.alloc(100_000, 0x62));
    expect((await atServer).length).toBe(100_000);
    expect(client.bytesRead - readByNode).toBe(kernel ? 0 : 100_000);
    server.end();
  });

  it('relays what either side said before the splice, first', async () => {
    const {
      user,
      server,
      splice: piped,
    } = await spliced(ownReads, async (early, backend) => {
      early.write('a2 NOOP\r\n');
      backend.write('* 1 EXISTS\r\n');
      // Read by Node already, not yet taken by anyone.
      await new Promise((r) => setTimeout(r, 50));
    });
    const atServer = collect(server);
    const atUser = collect(user);
    user.end('a3 NOOP\r\n');
    server.end('a2 OK\r\n');
    expect((await atServer).toString()).toBe('a2 NOOP\r\na3 NOOP\r\n');
    expect((await atUser).toString()).toBe('* 1 EXISTS\r\na2 OK\r\n');
    expect(await piped.done).toEqual({ up: 18, down: 19, reason: expect.any(String) });
  });

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
    const atServer = collect(server);
    user.end();
    expect(await piped.done).toEqual({ up: 0, down: 13, reason: 'backend' });
    // The user's end, the last of the two, reaches the backend as an end (not a reset).
    expect((await atServer).length).toBe(0);
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

  it('passes on the end a backend sent while the user was not reading', async () => {
    // More than the user's socket takes, less than the kernel relay's pipe holds: the relay
    // waits for the user, holding the rest, with nothing left to read from the backend. How
    // much the sockets take varies: a few sizes.
    for (const size of [512, 640, 768, 896]) {
      const { user, server, splice: piped } = await spliced(ownReads);
      user.pause();
      const burst = Buffer.alloc(size * 1024, 0x61);
      server.write(burst);
      await new Promise((r) => setTimeout(r, 150));
      // A few bytes and the end while it waits: read after the burst, then the end.
      server.end('* BYE\r\n');
      await new Promise((r) => setTimeout(r, 150));
      const atUser = collect(user);
      user.resume();
      expect((await atUser).length).toBe(burst.length + 7);
      user.end();
      expect(await piped.done).toEqual({ up: 0, down: burst.length + 7, reason: 'backend' });
    }
  }, 15_000);

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

describe('the kernel relay', () => {
  it('is built on Linux (gcc and node-api-headers, by npm run build)', () => {
    if (process.platform !== 'linux') return;
    expect(kernelRelayAvailable()).toEqual({ available: true, why: 'built' });
  });

  it('relays a short session on the JavaScript thread, a long one on a thread of its own', async () => {
    if (process.platform !== 'linux') return;
    // In a process of its own, which has started no relay yet: a login's few bytes, then a
    // download of a megabyte.
    const script = `
      import { once } from 'node:events';
      import { readdirSync, readFileSync } from 'node:fs';
      import { connect, createServer } from 'node:net';
      const { Splice } = await import(${JSON.stringify(new URL('../dist/splice.js', import.meta.url).pathname)});
      // The relay's thread by its name: Node and V8 start and end threads of their own meanwhile.
      const named = (task) => {
        try {
          return readFileSync(\`/proc/self/task/\${task}/comm\`, 'utf8').trim() === 'homing-relay';
        } catch {
          return false; // ended meanwhile
        }
      };
      const threads = () => readdirSync('/proc/self/task').filter(named).length;
      const listen = async (onSocket) => {
        const server = createServer({ allowHalfOpen: true }, onSocket).listen(0, '127.0.0.1');
        await once(server, 'listening');
        return server;
      };
      let size = 7;
      // The backend says its piece and ends once the user has.
      const backends = await listen((socket) => {
        socket.write(Buffer.alloc(size, 0x61));
        socket.on('end', () => socket.end()).resume();
      });
      let ended;
      const front = await listen((client) => {
        const backend = connect(backends.address().port, '127.0.0.1', () => {
          new Splice(client, backend).ended = ended;
        });
      });
      const session = async () => {
        const result = new Promise((resolve) => { ended = resolve; });
        const user = connect(front.address().port, '127.0.0.1');
        let bytes = 0;
        user.on('data', (chunk) => {
          bytes += chunk.length;
          if (bytes === size) user.end();
        });
        const { reason } = await result;
        return { bytes, reason, threads: threads() };
      };
      const before = threads();
      const short = await session();
      size = 1024 * 1024;
      const long = await session();
      console.log(JSON.stringify({ before, short, long }));
      process.exit(0);
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    const { before, short, long } = JSON.parse(stdout);
    expect(before).toBe(0);
    expect(short).toEqual({ bytes: 7, reason: 'client', threads: 0 });
    expect(long).toEqual({ bytes: 1024 * 1024, reason: 'client', threads: 1 });
  });

  it('closes a session whose other side stays open past the linger after one ended', async () => {
    useKernelRelay(true);
    lingerInKernel(200);
    try {
      const { user, server, splice: piped } = await spliced(false);
      user.resume();
      const serverEnded = once(server.resume(), 'end');
      const started = Date.now();
      // The backend ends; the user keeps its own half open and never ends it.
      server.end();
      await once(user, 'end');
      expect((await piped.done).reason).toBe('backend');
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      // Closed on by the relay: the backend hears the end of the user's half too.
      await serverEnded;
    } finally {
      lingerInKernel(5000);
    }
  });
});

describe('splice with a TLS client', () => {
  it('relays a burst from a plain backend through TLS, every byte in order', async () => {
    const dir = tempDir('splice-tls');
    const certs = makeCertificates(dir.path);
    try {
      const server = later<Socket>();
      const backendPort = await listen((socket) => server.resolve(socket));
      const piped = later<Watched>();
      const port = await listen((raw) => {
        const client = new TLSSocket(raw, {
          isServer: true,
          cert: certs.certPem,
          key: certs.keyPem,
        });
        client.once('secure', () => {
          client.pause();
          const backend = connectWithOwnReads('127.0.0.1', backendPort);
          backend.once('connect', () => piped.resolve(new Watched(client, backend)));
        });
      });
      const user = connectTls({ host: '127.0.0.1', port, ca: certs.caCertPem });
      const backend = await server.promise;
      const total = 16 * 1024 * 1024;
      const sent = createHash('sha256');
      const received = createHash('sha256');
      let bytes = 0;
      user.on('data', (data: Buffer) => {
        received.update(data);
        bytes += data.length;
      });
      const atUserEnd = once(user, 'end');
      await piped.promise;
      for (let written = 0; written < total; ) {
        const chunk = randomBytes(Math.min(1_000_003, total - written));
        sent.update(chunk);
        written += chunk.length;
        if (!backend.write(chunk)) await once(backend, 'drain');
      }
      backend.end();
      await atUserEnd;
      expect(bytes).toBe(total);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
      user.end();
      expect((await (await piped.promise).done).down).toBe(total);
    } finally {
      dir.remove();
    }
  });
});
