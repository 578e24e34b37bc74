import type { Duplex } from 'node:stream';
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { batchReplies, type ParsingConnection } from './reply-batching.js';

/** The parts of smtp-server's connection object that homing drives directly. */
export interface SmtpConnection {
  send(code: number, data: unknown, context?: unknown): void;
  close(): void;
  session?: { envelope?: { mailFrom?: unknown } };
  _dataStream?: unknown;
}

/** smtp-server's connection internals used to start a session (3.21.x). */
interface ConnectionInternals extends SmtpConnection, ParsingConnection {
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  on(event: string, listener: (...args: never[]) => void): void;
}

interface ServerInternals {
  connections: Set<unknown>;
  _onError(error: Error): void;
  _onClientConnect(data: unknown): void;
}

/**
 * Starts smtp-server's session on `socket` as `SMTPServer.connect()` does, but with our own
 * pause before the greeting: smtp-server always waits 100 ms there, which every sender would
 * pay on every connection. With `delayMs` 0 the 220 leaves at once; with a pause, a client
 * that talks before the greeting gets smtp-server's "421 You talk too soon" (the early-talker
 * check that Postfix's postscreen also makes) and is disconnected. Replies to pipelined
 * commands leave together (reply-batching.ts).
 */
export function startSession(
  smtp: SMTPServer,
  socket: Duplex,
  options: SMTPConnectionOptions,
  delayMs: number,
): SmtpConnection {
  const server = smtp as unknown as ServerInternals;
  const connection = new SMTPConnection(
    smtp,
    socket as never,
    options,
  ) as unknown as ConnectionInternals;
  if (
    typeof connection._setListeners !== 'function' ||
    typeof connection.connectionReady !== 'function'
  )
    throw new Error('smtp-server changed: its connection has no _setListeners or connectionReady');
  batchReplies(connection);
  server.connections.add(connection);
  connection.on('error', (error: Error) => server._onError(error));
  connection.on('connect', (data: unknown) => server._onClientConnect(data));
  connection._setListeners(() => {
    if (delayMs <= 0) return connection.connectionReady();
    const timer = setTimeout(() => connection.connectionReady(), delayMs);
    timer.unref();
  });
  return connection;
}
