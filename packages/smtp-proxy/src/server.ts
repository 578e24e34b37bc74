import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Directory } from '@homing/directory';
import {
  type AbuseGuard,
  type Admission,
  type BackendHealth,
  type Limits,
  type ListenerSpec,
  listen,
  type ProxyMetrics,
  type ServerTls,
  type SessionRegistry,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { BackendPool, type BackendPoolOptions, defaultBackendPool } from './backend-pool.js';
import type { DeliveryJournal } from './journal/journal.js';
import { lineDeadline } from './line-deadline.js';
import { type MixedPolicy, Router } from './router.js';
import { closingTexts, replyLine, smtpReplies } from './smtp-replies.js';
import { inTransaction, type SmtpConnection, startSession } from './smtp-server-adapter.js';
import { type SmarthostOptions, Submission, type SubmissionMode } from './submission.js';

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

/** What handles one client session: recipient routing (MX, LMTP) or authenticated submission. */
type SessionHandler = Router | Submission;

/**
 * Starts an MX (SMTP) or LMTP listener. smtp-server speaks to the client; each session gets a
 * Router that talks to the backends. Connections come from proxy-core's listener, so PROXY
 * headers and implicit TLS work as for IMAP and POP3.
 */
export async function startSmtpListener(options: SmtpListenerOptions): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: options.kind });
  const routers = new Map<string, SessionHandler>();
  const submission = options.kind === 'submission' ? options.submission : undefined;
  if (options.kind === 'submission' && !submission)
    throw new Error('a submission listener needs its mode');
  const implicit = options.spec.tls === 'implicit';
  // Pool keys start with the backend's health key (`name/lmtp`).
  const pool = new BackendPool({
    ...(options.backendPool ?? defaultBackendPool),
    isDown: (key) => options.health.isDown(key.split(' ')[0] ?? key),
  });
  const smtp = new SMTPServer({
    name: options.hostname,
    lmtp: options.kind === 'lmtp',
    secure: implicit,
    secured: implicit,
    size: options.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: options.maxRecipients,
    maxCommandLength: options.limits.lineBytes,
    socketTimeout: options.limits.idleTimeoutMs,
    ...(submission
      ? {
          authOptional: false,
          authMethods: [
            'PLAIN',
            'LOGIN',
            ...(submission.oauth && submission.mode === 'home' ? ['XOAUTH2'] : []),
          ],
          allowInsecureAuth: submission.allowPlaintext,
          disabledCommands: [],
        }
      : { authOptional: true, disabledCommands: ['AUTH'] }),
    hideSTARTTLS: options.spec.tls !== 'starttls' || !options.tls,
    hideSMTPUTF8: !options.smtputf8,
    hideDSN: !options.dsn,
    hide8BITMIME: false,
    hidePIPELINING: false,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    ...tlsOptions(options.tls),
    onConnect: (_session, done) => done(),
    // After STARTTLS smtp-server reads from a new TLS socket: its FIN must end the session too.
    onSecure: (socket, _session, done) => {
      endWithClient(socket);
      done();
    },
    onAuth: (auth, session, done) => {
      const handler = routers.get(session.id);
      if (!(handler instanceof Submission))
        return done(new Error('authentication is not offered here'));
      handler.auth(auth, session).then(
        (user) => done(null, { user }),
        (error: Error) => done(error),
      );
    },
    onMailFrom: (address, session, done) => {
      routers
        .get(session.id)
        ?.mail(address, session)
        .then(() => done(), done);
    },
    onRcptTo: (address, session, done) => {
      const router = routers.get(session.id);
      if (!router) return done(new Error('session not ready'));
      router.rcpt(address, session).then(
        () => done(),
        (error: Error) => done(error),
      );
    },
    onData: (stream, session, done) => {
      const router = routers.get(session.id);
      if (!router) {
        stream.resume();
        return done(new Error('session not ready'));
      }
      router.data(stream, session).then(
        (reply) => done(null, reply as string),
        (error: Error) => done(error),
      );
    },
    onClose: (session) => {
      routers.get(session.id)?.close();
      routers.delete(session.id);
    },
  } satisfies SMTPServerOptions);
  smtp.on('error', (error) => log.debug({ err: error }, 'smtp session error'));

  const server = await listen({
    spec: options.spec,
    tls: options.tls,
    limits: options.limits,
    metrics: options.metrics,
    get guard() {
      return options.guard;
    },
    refusal: replyLine(smtpReplies.blocked),
    admission: options.admission,
    busy: replyLine(smtpReplies.busy),
    log,
    onConnection: (connection) => {
      const info = {
        id: connection.id,
        protocol: options.kind === 'mx' ? ('smtp' as const) : options.kind,
        client: connection.client.address,
        since: new Date(),
      } as const;
      let smtpConnection: SmtpConnection | undefined;
      // Drain: wait for the transaction in progress, then 421 (RFC 5321 §3.8).
      const drain = () => {
        const timer = setInterval(() => {
          const c = smtpConnection;
          if (inTransaction(c)) return;
          clearInterval(timer);
          if (c) {
            c.send(421, closingTexts.shutdown(options.hostname));
            c.close();
          } else connection.socket.destroy();
        }, 50);
        connection.socket.once('close', () => clearInterval(timer));
      };
      const unregister = options.registry.add(info, () => connection.socket.destroy(), drain);
      connection.socket.once('close', unregister);
      // smtp-server creates the session; the router is keyed by the id we give it.
      const peer = { address: connection.client, local: connection.local };
      const router: SessionHandler = submission
        ? new Submission(
            {
              mode: submission.mode,
              directory: options.directory,
              health: options.health,
              limits: options.limits,
              hostname: options.hostname,
              smarthost: submission.smarthost,
              isOwnAddress: options.isOwnAddress,
            },
            connection,
          )
        : new Router(
            {
              directory: options.directory,
              health: options.health,
              limits: options.limits,
              hostname: options.hostname,
              policy: options.policy,
              journal: options.journal,
              fingerprintBytes: options.fingerprintBytes,
              pool,
              maxReceived: options.maxReceived,
              lmtp: options.kind === 'lmtp',
              isOwnAddress: options.isOwnAddress,
              frozen: async (login) => (await options.guard?.frozen(login)) ?? false,
              metrics: connection.metrics,
              log: connection.log,
            },
            peer,
          );
      routers.set(connection.id, router);
      smtpConnection = startSession(
        smtp,
        connection.socket,
        {
          id: connection.id,
          remoteAddress: connection.client.address,
          remotePort: connection.client.port,
          localAddress: connection.local.address,
          localPort: connection.local.port,
        },
        options.greetingDelayMs ?? 0,
      );
      endWithClient(connection.socket);
      const session = smtpConnection;
      lineDeadline(
        connection.socket,
        options.limits.lineTimeoutMs,
        () => inTransaction(session),
        () => {
          if (!session) return connection.socket.destroy();
          session.send(421, closingTexts.lineTimeout(options.hostname));
          session.close();
        },
      );
    },
  });
  // Stopped (drain, reload) and its sessions gone: the backend connections they left go too.
  server.once('close', () => pool.close());
  return server;
}

/**
 * The listener keeps half-open connections (an IMAP splice needs them). smtp-server writes no
 * reply once the client's side is closed, so the client's FIN ends the session: a message it
 * never finished is given up at once instead of holding its backend connection until the idle
 * timeout.
 */
const endsWithClient = new WeakSet<Duplex>();
function endWithClient(socket: Duplex): void {
  if (endsWithClient.has(socket)) return;
  endsWithClient.add(socket);
  // 'end' comes once: on() spares the wrapper once() would keep.
  socket.on('end', endOwnSide);
}

function endOwnSide(this: Duplex): void {
  // Most clients say QUIT first, and smtp-server has ended its side then: a second end()
  // would only build an error (with its stack) for nobody.
  if (!this.writableEnded) this.end();
}

function tlsOptions(tls: ServerTls | undefined): Partial<SMTPServerOptions> {
  if (!tls) return {};
  return {
    secureContext: tls.defaultContext,
    SNICallback: (name, done) => done(null, tls.contextFor(name)),
    minVersion: tls.minVersion,
  };
}
