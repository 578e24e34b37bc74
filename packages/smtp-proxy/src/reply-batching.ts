import type { Writable } from 'node:stream';

/** smtp-server's command parser (3.21.x): a Writable the client's socket is piped into. */
interface Parser {
  _write(chunk: Buffer, encoding: BufferEncoding, done: (error?: Error | null) => void): void;
}

/** The parts of smtp-server's connection that reply batching reaches into. */
export interface ParsingConnection {
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
export function batchReplies(connection: ParsingConnection): void {
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
