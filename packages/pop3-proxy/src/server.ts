import type { Server } from 'node:net';
import type { Directory } from '@homing/directory';
import {
  type AbuseGuard,
  type BackendHealth,
  type Limits,
  type ListenerSpec,
  listen,
  type ProxyMetrics,
  type ServerTls,
  type SessionRegistry,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import { Pop3Session } from './session.js';

export interface Pop3ListenerOptions {
  readonly spec: ListenerSpec;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly registry: SessionRegistry;
  /** Certificates for implicit TLS and STLS. */
  readonly tls: ServerTls | undefined;
  /** USER/PASS and AUTH without TLS (not advertised, and refused, otherwise). */
  readonly allowPlaintext: boolean;
  /** Pass XOAUTH2 and OAUTHBEARER through to backends. */
  readonly oauth: boolean;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  readonly metrics?: ProxyMetrics | undefined;
  readonly guard?: AbuseGuard | undefined;
  readonly log: Logger;
}

/** Starts one POP3 listener; every connection becomes a Pop3Session. */
export function startPop3Listener(options: Pop3ListenerOptions): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: 'pop3' });
  return listen({
    spec: options.spec,
    tls: options.tls,
    limits: options.limits,
    metrics: options.metrics,
    guard: options.guard,
    refusal:
      '-ERR [SYS/TEMP] Too many connections or failed logins from your address, try again later.',
    log,
    onConnection: (connection) => new Pop3Session(connection, options).start(),
  });
}
