import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { listen, type ServerTls } from '@homing/proxy-core';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { lineDeadline } from './line-deadline.js';
import type { SmtpListenerOptions } from './server.js';
import { closingTexts, replyLine, smtpReplies } from './smtp-replies.js';
import { inTransaction, type SmtpConnection, startSession } from './smtp-server-adapter.js';
import { Submission } from './submission.js';

/**
 * Starts a submission listener: smtp-server speaks to the client (it does AUTH), each session
 * gets a Submission that logs in at the user's home or checks the password for the smarthost.
 */
export async function startSubmissionListener(options: SmtpListenerOptions): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: options.kind });
  const sessions = new Map<string, Submission>();
  const submission = options.submission;
  if (!submission) throw new Error('a submission listener needs its mode');
  const implicit = options.spec.tls === 'implicit';
  const smtp = new SMTPServer({
    name: options.hostname,
    lmtp: false,
    secure: implicit,
    secured: implicit,
    size: options.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: options.maxRecipients,
    maxCommandLength: options.limits.lineBytes,
    socketTimeout: options.limits.idleTimeoutMs,
    authOptional: false,
    authMethods: [
      'PLAIN',
      'LOGIN',
      ...(submission.oauth && submission.mode === 'home' ? ['XOAUTH2'] : []),
    ],
    allowInsecureAuth: submission.allowPlaintext,
    disabledCommands: [],
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
      const handler = sessions.get(session.id);
      if (!handler) return done(new Error('authentication is not offered here'));
      handler.auth(auth, session).then(
        (user) => done(null, { user }),
        (error: Error) => done(error),
      );
    },
    onMailFrom: (address, session, done) => {
      sessions
        .get(session.id)
        ?.mail(address, session)
        .then(() => done(), done);
    },
    onRcptTo: (address, session, done) => {
      const handler = sessions.get(session.id);
      if (!handler) return done(new Error('session not ready'));
      handler.rcpt(address, session).then(
        () => done(),
        (error: Error) => done(error),
      );
    },
    onData: (stream, session, done) => {
      const handler = sessions.get(session.id);
      if (!handler) {
        stream.resume();
        return done(new Error('session not ready'));
      }
      handler.data(stream, session).then(
        (reply) => done(null, reply),
        (error: Error) => done(error),
      );
    },
    onClose: (session) => {
      sessions.get(session.id)?.close();
      sessions.delete(session.id);
    },
  } satisfies SMTPServerOptions);
  smtp.on('error', (error) => log.debug({ err: error }, 'smtp session error'));

  return listen({
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
        protocol: 'submission' as const,
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
      // smtp-server creates the session; the handler is keyed by the id we give it.
      sessions.set(
        connection.id,
        new Submission(
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
        ),
      );
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
