import { connect, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { connectWithOwnReads } from './backend-reads.js';
import type { Cancellation } from './deadline.js';
import { encodeProxyV2, type Peer } from './proxy-protocol.js';
import { connectTls } from './tls.js';

export interface BackendTarget {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS from the first byte; STARTTLS is the protocol's to do. */
  readonly implicitTls: boolean;
  readonly tlsOptions: ConnectionOptions;
  /** Sent first, when the backend entry asks for PROXY protocol v2. */
  readonly proxy?: { readonly source: Peer; readonly destination: Peer } | undefined;
  /** Plain TCP for good (no TLS, no STARTTLS): the splice may take over its reads. */
  readonly ownReads?: boolean;
  /** Local addresses to connect from, in this order, the next when one has no port left. */
  readonly sources?: readonly string[] | undefined;
}

/** A source address with no port left: bind() says EADDRINUSE, connect() EADDRNOTAVAIL. */
const OUT_OF_PORTS = new Set(['EADDRINUSE', 'EADDRNOTAVAIL']);

/** Opens a connection to a backend; `signal` carries the one deadline for connect + TLS + greeting. */
export function connectBackend(
  target: BackendTarget,
  signal: Cancellation,
): Promise<Socket | TLSSocket> {
  // Plain TCP from at most one source address, nothing sent first: the connect's own promise.
  if (!target.proxy && !target.implicitTls && (target.sources?.length ?? 0) < 2) {
    return connectFrom(target, target.sources?.[0], signal);
  }
  return connectAndPrepare(target, signal);
}

/** connectBackend with a choice of source address, a PROXY header or implicit TLS. */
async function connectAndPrepare(
  target: BackendTarget,
  signal: Cancellation,
): Promise<Socket | TLSSocket> {
  const sources = target.sources;
  const socket =
    sources === undefined || sources.length < 2
      ? await connectFrom(target, sources?.[0], signal)
      : await connectFromAny(target, sources, signal);
  if (target.proxy) socket.write(encodeProxyV2(target.proxy.source, target.proxy.destination));
  if (!target.implicitTls) return socket;
  return connectTls(socket, target.tlsOptions, signal);
}

/** The first source address that has a port left. */
async function connectFromAny(
  target: BackendTarget,
  sources: readonly string[],
  signal: Cancellation,
): Promise<Socket> {
  for (const [i, source] of sources.entries()) {
    try {
      return await connectFrom(target, source, signal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (i === sources.length - 1 || code === undefined || !OUT_OF_PORTS.has(code)) throw error;
    }
  }
  throw new Error(`connect to ${target.host}:${target.port}: no source address`);
}

function connectFrom(
  target: BackendTarget,
  localAddress: string | undefined,
  signal: Cancellation,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = target.ownReads
      ? connectWithOwnReads(target.host, target.port, localAddress)
      : connect({ host: target.host, port: target.port, localAddress, noDelay: true });
    const onAbort = () => {
      s.destroy();
      reject(new Error(`connect to ${target.host}:${target.port} timed out`));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    // on() and off(), not once(): no wrapper made for each listener.
    const onConnect = () => {
      signal.removeEventListener('abort', onAbort);
      s.off('error', onError);
      resolve(s);
    };
    const onError = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      s.off('connect', onConnect);
      reject(error);
    };
    s.on('connect', onConnect);
    s.on('error', onError);
  });
}
