import type { Server } from 'node:net';
import type { Directory } from '@homing/directory';
import type {
  AbuseGuard,
  Admission,
  BackendHealth,
  Limits,
  ListenerSpec,
  ProxyMetrics,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import { noMetrics } from '@homing/proxy-core';
import type { Logger } from 'pino';
import { BackendPool, type BackendPoolOptions, defaultBackendPool } from './backend-pool.js';
import type { DeliveryJournal } from './journal/journal.js';
import { type MixedPolicy, Router, type RouterOptions } from './router.js';
import { SmtpSession } from './server-side/session.js';
import { sessionSetup } from './session-setup.js';
import { listenSmtp } from './smtp-listen.js';
import type { SmarthostOptions, SubmissionMode } from './submission.js';
import { startSubmissionListener } from './submission-server.js';

export type SmtpKind = 'mx' | 'lmtp' | 'submission';

export interface SmtpListenerOptions {
  readonly spec: ListenerSpec;
  readonly kind: SmtpKind;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly registry: SessionRegistry;
  readonly tls: ServerTls | undefined;
  readonly hostname: string;
  /** Largest message in bytes (SIZE, RFC 1870). */
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  readonly maxReceived: number;
  readonly policy: MixedPolicy;
  /** MX with `fanout`: what makes a retry reach only the recipients still without the message. */
  readonly journal?: DeliveryJournal | undefined;
  /** Most bytes of a message's header block in its journal fingerprint. */
  readonly fingerprintBytes?: number | undefined;
  /** MX and LMTP: backend connections kept between client sessions. */
  readonly backendPool?: BackendPoolOptions | undefined;
  /** Offer SMTPUTF8 and DSN: only when every backend supports them end to end. */
  readonly smtputf8: boolean;
  readonly dsn: boolean;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  /**
   * Pause before the 220 greeting; a client that talks during it is refused as an early
   * talker. 0 (the default): greet at once.
   */
  readonly greetingDelayMs?: number | undefined;
  readonly metrics?: ProxyMetrics | undefined;
  readonly guard?: AbuseGuard | undefined;
  /** This process's bound on client connections; past it, the busy reply. */
  readonly admission?: Admission | undefined;
  /** Submission only: where authenticated mail goes, and whether AUTH may come before TLS. */
  readonly submission?: {
    readonly mode: SubmissionMode;
    readonly smarthost?: SmarthostOptions | undefined;
    readonly allowPlaintext: boolean;
    readonly oauth: boolean;
  };
  readonly log: Logger;
}

/**
 * Starts an MX (SMTP), LMTP or submission listener. MX and LMTP sessions are homing's own
 * (server-side/session.ts), each with a Router that talks to the backends; submission's sessions
 * too, with AUTH, each with a Submission. Connections come from proxy-core's listener, so PROXY headers and
 * implicit TLS work as for IMAP and POP3.
 */
export async function startSmtpListener(options: SmtpListenerOptions): Promise<Server> {
  if (options.kind === 'submission') return startSubmissionListener(options);
  const log = options.log.child({ listener: options.spec.name, proto: options.kind });
  const lmtp = options.kind === 'lmtp';
  // Pool keys start with the backend's health key (`name/lmtp`).
  const pool = new BackendPool({
    ...(options.backendPool ?? defaultBackendPool),
    isDown: (key) => options.health.isDown(key.split(' ')[0] ?? key),
  });
  const setup = sessionSetup(options);
  const kind = lmtp ? 'lmtp' : 'smtp';
  const routing: RouterOptions = {
    directory: options.directory,
    health: options.health,
    limits: options.limits,
    hostname: options.hostname,
    policy: options.policy,
    journal: options.journal,
    fingerprintBytes: options.fingerprintBytes,
    pool,
    maxReceived: options.maxReceived,
    lmtp,
    isOwnAddress: options.isOwnAddress,
    // Read at each recipient: a reload may replace the guard.
    frozen: (login) => options.guard?.frozen(login) ?? false,
    metrics: options.metrics ?? noMetrics,
  };
  const server = await listenSmtp(options, log, (connection) => {
    new SmtpSession(connection, setup, new Router(routing, connection), kind).start();
  });
  // Stopped (drain, reload) and its sessions gone: the backend connections they left go too.
  server.once('close', () => pool.close());
  return server;
}
