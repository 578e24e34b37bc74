import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { LineReader } from './line-reader.js';
import { connectTls } from './tls.js';

/**
 * A backend's pre-login connection after its OK to STARTTLS (STLS): the handshake on the same
 * socket within `signal`, and a reader of the TLS socket in place of `reader`. Undefined when
 * bytes came after the OK and before the handshake: they were not sent under TLS, so they are
 * refused, and the caller gives up the backend.
 */
export async function readerUnderTls(
  reader: LineReader,
  socket: Socket,
  options: ConnectionOptions,
  signal: AbortSignal,
  maxLineBytes: number,
): Promise<{ socket: TLSSocket; reader: LineReader } | undefined> {
  if (reader.detach().length > 0) return undefined;
  const secure = await connectTls(socket, options, signal);
  return { socket: secure, reader: new LineReader(secure, maxLineBytes) };
}
