import type { Server } from 'node:net';
import type { Directory } from '@homing/directory';
import type { Logger } from 'pino';
import type { AbuseGuard } from './abuse/guard.js';
import type { Admission } from './admission.js';
import type { BackendHealth } from './health.js';
import type { Limits } from './limits.js';
import { type ClientConnection, type ListenerSpec, listen } from './listener.js';
import type { ProxyMetrics } from './metrics.js';
import type { SessionProtocol, SessionRegistry } from './sessions.js';
import type { ServerTls } from './tls.js';

/** What every protocol listener is started with. */
export interface ProtocolListenerOptions {
  readonly spec: ListenerSpec;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly registry: SessionRegistry;
  /** Certificates for implicit TLS and STARTTLS; absent: no TLS is offered. */
  readonly tls: ServerTls | undefined;
  /** Passwords without TLS (not advertised, and refused, otherwise). */
  readonly allowPlaintext: boolean;
  /** Pass XOAUTH2 and OAUTHBEARER through to backends. */
  readonly oauth: boolean;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
  readonly metrics?: ProxyMetrics | undefined;
  readonly guard?: AbuseGuard | undefined;
  /** This process's bound on client connections (its descriptors' worth of sessions). */
  readonly admission?: Admission | undefined;
  readonly log: Logger;
}

/**
 * The lines a listener turns a client away with before its session starts, in its protocol's
 * words: `refusal` for an address the abuse limits block, `busy` when this node is full.
 */
export interface Refusals {
  readonly refusal: string;
  readonly busy: string;
}

/** What `listenWithRefusals` needs of a listener's options. */
export type RefusingListenerOptions = Pick<
  ProtocolListenerOptions,
  'spec' | 'tls' | 'limits' | 'metrics' | 'guard' | 'admission'
>;

/**
 * Listens with a listener's limits, abuse guard and admission, turning the excess away with
 * `refusals`; each accepted connection goes to `onConnection`. Every protocol listens so.
 */
export function listenWithRefusals(
  options: RefusingListenerOptions,
  { refusal, busy }: Refusals,
  log: Logger,
  onConnection: (connection: ClientConnection) => void,
): Promise<Server> {
  return listen({
    spec: options.spec,
    tls: options.tls,
    limits: options.limits,
    metrics: options.metrics,
    // Read at each connection: a reload may replace the guard.
    get guard() {
      return options.guard;
    },
    refusal,
    admission: options.admission,
    busy,
    log,
    onConnection,
  });
}

/** Starts a listener whose connections `session` takes over; `refusals` turn away the excess. */
export function startProtocolListener(
  options: ProtocolListenerOptions,
  protocol: SessionProtocol,
  refusals: Refusals,
  session: (connection: ClientConnection, log: Logger) => void,
): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: protocol });
  return listenWithRefusals(options, refusals, log, (connection) => session(connection, log));
}
