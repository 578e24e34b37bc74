import type { Duplex, Writable } from 'node:stream';
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';

/**
 * Everything homing needs of smtp-server that its public API does not offer, in one place,
 * written against 3.21.x; test/smtp-server-adapter.test.ts fails when the library changes under
 * it. Nothing else in homing touches smtp-server's private state.
 */

/** The parts of smtp-server's connection object that homing drives directly. */
export interface SmtpConnection {
  send(code: number, data: unknown, context?: unknown): void;
  close(): void;
  session?: { envelope?: { mailFrom?: unknown } };
  _dataStream?: unknown;
}

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
 * check that Postfix's postscreen also makes) and is disconnected. The connection joins the
 * server's own set, so that `close()` on the server ends it too. Replies to pipelined commands
 * leave together (batchReplies).
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
    typeof connection.connectionReady !== 'function' ||
    !(server.connections instanceof Set)
  )
    throw new Error('smtp-server changed: a session can no longer be started on a socket');
  batchReplies(connection);
  server.connections.add(connection);
  connection.on('error', (error: Error) => server._onError(error));
  connection.on('connect', (data: unknown) => server._onClientConnect(data));
  connection._setListeners(() => {
    if (delayMs <= 0) return connection.connectionReady();
    const timer = setTimeout(() => connection.connectionReady(), delayMs);
    timer.unref();
  });
  keepOwnStatusCodes(connection);
  return connection;
}

/** A transaction has begun (MAIL FROM) or its message is coming in. */
export function inTransaction(connection: SmtpConnection | undefined): boolean {
  return Boolean(connection?.session?.envelope?.mailFrom || connection?._dataStream);
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

/**
 * smtp-server puts its own enhanced status code (RFC 3463) before every reply text; ours, and
 * the backends' that we relay, already start with one (5.1.1, 4.5.3, 5.2.2...). For such
 * replies the connection's own code is left out (its `send` takes `false` for "none"), so the
 * sender sees the mailbox server's.
 */
function keepOwnStatusCodes(connection: SmtpConnection): void {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) =>
    send(code, data, typeof data === 'string' && ENHANCED.test(data) ? false : context);
}

/** smtp-server's command parser (3.21.x): a Writable the client's socket is piped into. */
interface Parser {
  _write(chunk: Buffer, encoding: BufferEncoding, done: (error?: Error | null) => void): void;
}

/** The parts of smtp-server's connection that reply batching reaches into. */
interface ParsingConnection {
  _socket: Writable;
  _parser: Parser | false;
  _createParser(): Parser;
}

/**
 * Replies to pipelined commands leave in one write (RFC 2920 §3.1 lets a server buffer them
 * until it would wait for more input). smtp-server writes each reply on its own, so a sender
 * that pipelines MAIL, three RCPTs and DATA gets five writes, each a syscall and a wakeup on
 * both sides. Here the client's socket is corked while the parser works through a chunk of
 * input and uncorked once it has dealt with all of it (including any wait for a backend in
 * between): the replies to one chunk go out together. A client that waits for each reply
 * sends one command per chunk and sees no change. STARTTLS's 220 is not held past the chunk
 * either: smtp-server finishes the old parser's chunk right after it (upgrade()).
 */
function batchReplies(connection: ParsingConnection): void {
  if (
    typeof connection._createParser !== 'function' ||
    !connection._parser ||
    typeof connection._parser._write !== 'function' ||
    !connection._socket
  )
    throw new Error('smtp-server changed: its connection has no _parser, _createParser or _socket');
  corkPerChunk(connection._parser, connection);
  // STARTTLS gives the TLS session a new parser: its chunks are batched too.
  const create = connection._createParser.bind(connection);
  connection._createParser = () => corkPerChunk(create(), connection);
}

function corkPerChunk(parser: Parser, connection: ParsingConnection): Parser {
  const write = parser._write.bind(parser);
  parser._write = (chunk, encoding, done) => {
    // The socket of this chunk: after STARTTLS the connection writes to another.
    const socket = connection._socket;
    socket.cork();
    write(chunk, encoding, (error) => {
      socket.uncork();
      done(error);
    });
  };
  return parser;
}
