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
import { ImapSession } from './session.js';

export interface ImapListenerOptions {
  readonly spec: ListenerSpec;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly registry: SessionRegistry;
  readonly tls: ServerTls | undefined;
  readonly allowPlaintext: boolean;
  readonly oauth: boolean;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  readonly metrics?: ProxyMetrics | undefined;
  readonly guard?: AbuseGuard | undefined;
  readonly log: Logger;
}

/** Starts one IMAP listener; every connection becomes an ImapSession. */
export function startImapListener(options: ImapListenerOptions): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: 'imap' });
  return listen({
    spec: options.spec,
    tls: options.tls,
    limits: options.limits,
    metrics: options.metrics,
    guard: options.guard,
    refusal:
      '* BYE [UNAVAILABLE] Too many connections or failed logins from your address, try again later',
    log,
    onConnection: (connection) => new ImapSession(connection, options).start(),
  });
}
