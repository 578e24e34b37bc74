import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Backend, Endpoint } from '@homing/directory';
import { connectBackend } from './backend.js';
import { type Cancellation, Deadline } from './deadline.js';
import { type BackendHealth, healthKey } from './health.js';
import type { Limits } from './limits.js';
import type { ClientConnection } from './listener.js';
import { localErrorCode } from './local-errors.js';
import type { SessionProtocol } from './sessions.js';
import { sourceAddresses } from './source-addresses.js';
import { backendTlsOptions } from './tls.js';

export interface OpenBackendOptions<S> {
  readonly backend: Backend;
  readonly endpoint: Endpoint;
  readonly protocol: SessionProtocol;
  readonly connection: Pick<ClientConnection, 'client' | 'local' | 'metrics'>;
  readonly limits: Limits;
  readonly health: BackendHealth;
  /** Its own when absent: backend_connect_timeout for connect, TLS, greeting and STARTTLS. */
  readonly deadline?: Deadline | undefined;
  /** The protocol's part: read the greeting and do STARTTLS within `signal`; throw if it fails. */
  readonly greet: (
    socket: Socket | TLSSocket,
    tls: ConnectionOptions,
    signal: Cancellation,
  ) => Promise<S>;
}

export type OpenBackendResult<S> =
  | { readonly ok: true; readonly session: S }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Set when the node itself ran out of a resource: the code (EMFILE...). */
      readonly local?: string | undefined;
    };

/**
 * A ready backend connection for a login: the backend is skipped while marked down; connect,
 * TLS, greeting and STARTTLS share one deadline; the outcome feeds health and metrics. The same
 * for every protocol; only `greet` differs.
 */
export async function openBackend<S>(
  options: OpenBackendOptions<S>,
): Promise<OpenBackendResult<S>> {
  const { backend, endpoint, protocol, connection, limits, health } = options;
  const key = healthKey(backend.name, protocol);
  if (health.isDown(key)) return { ok: false, reason: `backend ${backend.name} is marked down` };
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let socket: Socket | TLSSocket | undefined;
  const deadline = options.deadline ?? new Deadline(limits.backendConnectTimeoutMs);
  try {
    const signal = deadline.signal;
    const tls = backendTlsOptions(backend.host, backend.tls);
    socket = await connectBackend(
      {
        host: backend.host,
        port: endpoint.port,
        implicitTls: endpoint.tls === 'implicit',
        ownReads: endpoint.tls === 'none',
        sources: sourceAddresses.order(backend.name),
        tlsOptions: tls,
        proxy:
          endpoint.forward === 'proxy'
            ? { source: connection.client, destination: connection.local }
            : undefined,
      },
      signal,
    );
    const session = await options.greet(socket, tls, signal);
    health.success(key);
    connection.metrics.backendConnect(backend.name, protocol, elapsed(), true);
    return { ok: true, session };
  } catch (error) {
    socket?.destroy();
    const reason = error instanceof Error ? error.message : String(error);
    const local = localErrorCode(error);
    if (local) {
      connection.metrics.localError(local, 'backend_connect');
      return { ok: false, reason: `this node, towards ${backend.name}: ${reason}`, local };
    }
    connection.metrics.backendConnect(backend.name, protocol, elapsed(), false);
    health.failure(key, reason);
    return { ok: false, reason: `backend ${backend.name}: ${reason}` };
  } finally {
    if (!options.deadline) deadline.clear();
  }
}

/**
 * The login on a backend that `openBackend` gave: `work` runs within backend_login_timeout; if
 * it throws or runs out of time, the connection is closed and the backend counts as unavailable.
 */
export async function loginOnBackend<R>(
  session: { readonly socket: { destroy(): void } },
  backendName: string,
  limits: Limits,
  work: (signal: Cancellation) => Promise<R>,
  /** The one openBackend used, restarted here; cleared by its owner. */
  shared?: Deadline,
): Promise<R | { readonly kind: 'unavailable'; readonly reason: string }> {
  shared?.restart(limits.backendLoginTimeoutMs);
  const deadline = shared ?? new Deadline(limits.backendLoginTimeoutMs);
  try {
    return await work(deadline.signal);
  } catch (error) {
    session.socket.destroy();
    return {
      kind: 'unavailable',
      reason: `backend ${backendName}: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    if (!shared) deadline.clear();
  }
}
