import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AbuseGuard } from './abuse/guard.js';
import type { Admission } from './admission.js';
import { Deadline } from './deadline.js';
import type { Limits } from './limits.js';
import { noMetrics, type ProxyMetrics } from './metrics.js';
import { type Endpoint, PROXY_V2_MAX, parseProxyHeader } from './proxy-protocol.js';
import type { ServerTls } from './tls.js';
import type { AddressSet } from './trusted.js';

export type ListenerTls = 'none' | 'starttls' | 'implicit';

export interface ListenerSpec {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls: ListenerTls;
  /** Expect a PROXY v1/v2 header first, from these sources only. */
  readonly proxyProtocol: boolean;
  readonly trustedProxies: AddressSet;
  /**
   * Bind a socket of its own with SO_REUSEPORT, which the kernel spreads connections over,
   * instead of sharing one through a cluster primary. Node 22.12 and later; older ones ignore it.
   */
  readonly reusePort?: boolean;
}

/** One accepted client connection, after any PROXY header and implicit TLS. */
export interface ClientConnection {
  readonly id: string;
  socket: Socket | TLSSocket;
  secure: boolean;
  /** The real client (from the PROXY header when there is one). */
  readonly client: Endpoint;
  /** The address the client connected to. */
  readonly local: Endpoint;
  readonly listener: ListenerSpec;
  /** The session's logger: the listener's, with the session id and the client's address. */
  readonly log: Logger;
  /** The listener's own, for a line that writes the session's fields itself. */
  readonly listenerLog: Logger;
  readonly metrics: ProxyMetrics;
  /** Abuse limits: login delays and blocks, sessions per user. */
  readonly guard?: AbuseGuard | undefined;
}

export interface ListenOptions {
  readonly spec: ListenerSpec;
  readonly tls: ServerTls | undefined;
  readonly limits: Limits;
  readonly log: Logger;
  readonly metrics?: ProxyMetrics | undefined;
  readonly guard?: AbuseGuard | undefined;
  /** The protocol's line for a client over its connection limit or blocked (no CRLF). */
  readonly refusal?: string | undefined;
  /** Bounds this process's client connections; past it, `busy` is the answer. */
  readonly admission?: Admission | undefined;
  /** The protocol's line for a client when the node is full (no CRLF); default `refusal`. */
  readonly busy?: string | undefined;
  readonly onConnection: (connection: ClientConnection) => void;
}

/** Random per process, so that ids of this node's workers and of other nodes do not meet. */
const idPrefix = randomBytes(4).toString('base64url');
let idCount = 0;

/** A session id for log lines and the backends' logs: unique without asking for randomness. */
export function sessionId(): string {
  idCount += 1;
  return `${idPrefix}${idCount.toString(36)}`;
}

/** A TCP listener that turns raw sockets into ClientConnections for a protocol handler. */
export async function listen(options: ListenOptions): Promise<Server> {
  const { spec, log } = options;
  if (spec.tls !== 'none' && !options.tls) {
    throw new Error(`listener ${spec.name}: tls ${spec.tls} needs a certificate`);
  }
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accept(socket, options).catch((error: unknown) => {
      log.debug(
        { err: error, client: socket.remoteAddress },
        'connection dropped before the protocol began',
      );
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const bind = { port: spec.port, host: spec.host, reusePort: spec.reusePort === true };
    server.listen(bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

async function accept(socket: Socket, options: ListenOptions): Promise<void> {
  const { spec, limits } = options;
  socket.on('error', ignoreErrors); // handled by whoever owns the socket next; never crash on it
  // Taken at once: a client holds a descriptor from here, handshakes included.
  const place = options.admission?.enter();
  if (place) socket.on('close', place);
  let client: Endpoint = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  let local: Endpoint = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  if (spec.proxyProtocol && !spec.trustedProxies.has(client.address)) {
    options.log.warn(
      { client: client.address, listener: spec.name },
      'PROXY header from an untrusted address refused',
    );
    socket.destroy();
    return;
  }
  const implicitTls = spec.tls === 'implicit' ? options.tls : undefined;
  // One deadline for the PROXY header and the TLS handshake; no timer where there is neither.
  const deadline =
    spec.proxyProtocol || implicitTls ? new Deadline(limits.proxyHeaderTimeoutMs) : undefined;
  let stream: Socket | TLSSocket = socket;
  try {
    if (spec.proxyProtocol && deadline) {
      const header = await readProxyHeader(socket, deadline.signal);
      client = header.source ?? client;
      local = header.destination ?? local;
    }
    if (implicitTls && deadline) stream = await implicitTls.accept(socket, deadline.signal);
  } finally {
    deadline?.clear();
  }
  const id = sessionId();
  const log = options.log.child({ sid: id, client: client.address });
  if (options.admission && !place) {
    log.info({ capacity: options.admission.capacity }, 'connection refused: node at capacity');
    return refuse(stream, options.busy ?? options.refusal);
  }
  if (options.guard) {
    const admitted = await options.guard.connect(client.address);
    if (!admitted.ok) {
      log.info({ reason: admitted.reason }, 'connection refused');
      return refuse(stream, options.refusal);
    }
    // 'close' comes once: on() spares the wrapper once() would keep for the session's life.
    stream.on('close', admitted.release);
  }
  options.onConnection({
    id,
    socket: stream,
    secure: spec.tls === 'implicit',
    client,
    local,
    listener: spec,
    log,
    listenerLog: options.log,
    metrics: options.metrics ?? noMetrics,
    guard: options.guard,
  });
  // The PROXY header reader paused the socket; the handler has attached its reader by now.
  stream.resume();
}

/** One function for every socket, rather than a closure each. */
export function ignoreErrors(): void {}

/** Says why and closes; a client that does not close in a second is cut off. */
function refuse(stream: Socket | TLSSocket, line: string | undefined): void {
  stream.end(`${line ?? 'Too many connections'}\r\n`);
  setTimeout(() => stream.destroy(), 1000).unref();
}

/** Reads exactly the PROXY header, putting back whatever follows it. */
function readProxyHeader(socket: Socket, signal: AbortSignal) {
  return new Promise<
    Exclude<ReturnType<typeof parseProxyHeader>, { kind: 'incomplete' | 'invalid' }>
  >((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const done = (error?: Error) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
    };
    const onAbort = () => done(new Error('no PROXY header in time'));
    const onEnd = () => done(new Error('closed before the PROXY header'));
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const header = parseProxyHeader(buffer);
      if (header.kind === 'incomplete') {
        if (buffer.length > PROXY_V2_MAX) done(new Error('PROXY header too long'));
        return;
      }
      if (header.kind === 'invalid') return done(new Error(`bad PROXY header: ${header.reason}`));
      done();
      socket.pause();
      const rest = buffer.subarray(header.consumed);
      if (rest.length > 0) socket.unshift(rest);
      resolve(header);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
