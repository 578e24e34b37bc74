import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AbuseGuard, ConnectDecision } from './abuse/guard.js';
import type { Admission } from './admission.js';
import { type Cancellation, Deadline } from './deadline.js';
import { listenerKeepAlive } from './keepalive.js';
import type { Limits } from './limits.js';
import { noMetrics, type ProxyMetrics } from './metrics.js';
import { type Peer, PROXY_V2_MAX, parseProxyHeader } from './proxy-protocol.js';
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
  readonly client: Peer;
  /** The address the client connected to. */
  readonly local: Peer;
  readonly listener: ListenerSpec;
  /**
   * The session's logger: the listener's, with the session id and the client's address. Made
   * when first asked for: a session that only logs in and out never needs one of its own.
   */
  readonly log: Logger;
  /**
   * The listener's own, for a line of fixed fields, none of them a secret, that names the
   * session itself (login, close): unredacted, as redaction costs more than the line.
   */
  readonly listenerLog: Logger;
  /** TCP keepalive idle time the client socket has from its listener; 0: none. */
  readonly keepAliveMs: number;
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
  const { spec } = options;
  if (spec.tls !== 'none' && !options.tls) {
    throw new Error(`listener ${spec.name}: tls ${spec.tls} needs a certificate`);
  }
  const own: ListenerOwn = {
    plainLog: options.log.child({}, { redact: [] }),
    local: undefined,
    keepAliveMs: 0,
  };
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
    accept(socket, options, own),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const bind = { port: spec.port, host: spec.host, reusePort: spec.reusePort === true };
    server.listen(bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  own.local = boundEndpoint(server);
  own.keepAliveMs = listenerKeepAlive(server, options.limits.tcpKeepaliveMs);
  return server;
}

/** What a listener makes once for all its connections. */
interface ListenerOwn {
  /** Its logger without redaction, for lines of fixed fields (see listenerLog). */
  readonly plainLog: Logger;
  /** The address clients connect to, when the listener has one only (not a wildcard). */
  local: Peer | undefined;
  /** Keepalive that accepted sockets have from the listening one (see listenerKeepAlive). */
  keepAliveMs: number;
}

function boundEndpoint(server: Server): Peer | undefined {
  const bound = server.address();
  if (bound === null || typeof bound === 'string') return undefined;
  if (bound.address === '0.0.0.0' || bound.address === '::') return undefined;
  return Object.freeze({ address: bound.address, port: bound.port });
}

/**
 * A new client socket. A plain listener takes it in this turn of the event loop: a promise per
 * connection is paid only where there is a PROXY header or a handshake to wait for.
 */
function accept(socket: Socket, options: ListenOptions, own: ListenerOwn): void {
  const { spec } = options;
  socket.on('error', ignoreErrors); // handled by whoever owns the socket next; never crash on it
  // Taken at once: a client holds a descriptor from here, handshakes included.
  const place = options.admission?.enter();
  if (place) socket.on('close', place);
  const client: Peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  // A listener on one address needs no getsockname() per connection to know it.
  const local: Peer = own.local ?? {
    address: socket.localAddress ?? '',
    port: socket.localPort ?? 0,
  };
  if (spec.proxyProtocol && !spec.trustedProxies.has(client.address)) {
    options.log.warn(
      { client: client.address, listener: spec.name },
      'PROXY header from an untrusted address refused',
    );
    socket.destroy();
    return;
  }
  if (spec.proxyProtocol || spec.tls === 'implicit') {
    prepare(socket, options, own, client, local, place).catch((error: unknown) =>
      dropped(socket, options, error),
    );
    return;
  }
  try {
    const admitted = admit(socket, options, own, client, local, place);
    admitted?.catch((error: unknown) => dropped(socket, options, error));
  } catch (error) {
    dropped(socket, options, error);
  }
}

function dropped(socket: Socket, options: ListenOptions, error: unknown): void {
  options.log.debug(
    { err: error, client: socket.remoteAddress },
    'connection dropped before the protocol began',
  );
  socket.destroy();
}

/** The PROXY header and the TLS handshake, under one deadline, before the session starts. */
async function prepare(
  socket: Socket,
  options: ListenOptions,
  own: ListenerOwn,
  client: Peer,
  local: Peer,
  place: (() => void) | undefined,
): Promise<void> {
  const { spec, limits } = options;
  const implicitTls = spec.tls === 'implicit' ? options.tls : undefined;
  const deadline = new Deadline(limits.proxyHeaderTimeoutMs);
  let stream: Socket | TLSSocket = socket;
  try {
    if (spec.proxyProtocol) {
      const header = await readProxyHeader(socket, deadline.signal);
      client = header.source ?? client;
      local = header.destination ?? local;
    }
    if (implicitTls) stream = await implicitTls.accept(socket, deadline.signal);
  } finally {
    deadline.clear();
  }
  await admit(stream, options, own, client, local, place);
}

/** Capacity and the abuse guard's say; then the protocol's session takes the connection. */
function admit(
  stream: Socket | TLSSocket,
  options: ListenOptions,
  own: ListenerOwn,
  client: Peer,
  local: Peer,
  place: (() => void) | undefined,
): Promise<void> | undefined {
  const id = sessionId();
  if (options.admission && !place) {
    options.log.info(
      { sid: id, client: client.address, capacity: options.admission.capacity },
      'connection refused: node at capacity',
    );
    refuse(stream, options.busy ?? options.refusal);
    return undefined;
  }
  const guard = options.guard;
  if (!guard) return start(stream, options, own, id, client, local, undefined);
  const admitted = guard.connect(client.address);
  if (admitted instanceof Promise) {
    return admitted.then((decision) => start(stream, options, own, id, client, local, decision));
  }
  return start(stream, options, own, id, client, local, admitted);
}

function start(
  stream: Socket | TLSSocket,
  options: ListenOptions,
  own: ListenerOwn,
  id: string,
  client: Peer,
  local: Peer,
  admitted: ConnectDecision | undefined,
): undefined {
  if (admitted) {
    if (!admitted.ok) {
      options.log.info(
        { sid: id, client: client.address, reason: admitted.reason },
        'connection refused',
      );
      refuse(stream, options.refusal);
      return undefined;
    }
    // 'close' comes once: on() spares the wrapper once() would keep for the session's life.
    stream.on('close', admitted.release);
  }
  options.onConnection(new Connection(id, stream, client, local, options, own));
  // The PROXY header reader paused the socket; the handler has attached its reader by now.
  stream.resume();
  return undefined;
}

class Connection implements ClientConnection {
  secure: boolean;
  readonly listener: ListenerSpec;
  readonly metrics: ProxyMetrics;
  readonly guard: AbuseGuard | undefined;
  readonly listenerLog: Logger;
  readonly keepAliveMs: number;
  readonly #log: Logger;
  #sessionLog: Logger | undefined;

  constructor(
    readonly id: string,
    public socket: Socket | TLSSocket,
    readonly client: Peer,
    readonly local: Peer,
    options: ListenOptions,
    own: ListenerOwn,
  ) {
    this.listenerLog = own.plainLog;
    this.keepAliveMs = own.keepAliveMs;
    this.listener = options.spec;
    this.secure = options.spec.tls === 'implicit';
    this.metrics = options.metrics ?? noMetrics;
    this.guard = options.guard;
    this.#log = options.log;
  }

  get log(): Logger {
    this.#sessionLog ??= this.#log.child({ sid: this.id, client: this.client.address });
    return this.#sessionLog;
  }
}

/** One function for every socket, rather than a closure each. */
export function ignoreErrors(): void {}

/**
 * How long a refused client may take to read why and close. A constant, not a limit: the refusal
 * is said either way, and a refused connection should not hold a socket for long.
 */
const refusalLingerMs = 1000;

/** Says why and closes; a client that does not close in time is cut off. */
function refuse(stream: Socket | TLSSocket, line: string | undefined): void {
  stream.end(`${line ?? 'Too many connections'}\r\n`);
  setTimeout(() => stream.destroy(), refusalLingerMs).unref();
}

/** Reads exactly the PROXY header, putting back whatever follows it. */
function readProxyHeader(socket: Socket, signal: Cancellation) {
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
