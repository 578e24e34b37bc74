import type { Server } from 'node:net';
import type { Directory } from '@homing/directory';
import type { Logger } from 'pino';
import type { AbuseGuard } from './abuse/guard.js';
import type { Admission } from './admission.js';
import { busyReply } from './busy.js';
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

/** Starts a listener whose connections `session` takes over; `refusal` turns away the excess. */
export function startProtocolListener(
  options: ProtocolListenerOptions,
  protocol: SessionProtocol,
  refusal: string,
  session: (connection: ClientConnection, log: Logger) => void,
): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: protocol });
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
    busy: busyReply(protocol),
    log,
    onConnection: (connection) => session(connection, log),
  });
}
