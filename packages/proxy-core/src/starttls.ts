import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Cancellation } from './deadline.js';
import { LineReader } from './line-reader.js';
import { connectTls } from './tls.js';

/**
 * A backend's pre-login connection as its dialogue reads it: the socket and a line reader of
 * it, both replaced when the connection goes over to TLS.
 */
export class BackendLines {
  socket: Socket | TLSSocket;
  reader: LineReader;

  constructor(
    socket: Socket | TLSSocket,
    readonly maxLineBytes: number,
  ) {
    this.socket = socket;
    this.reader = new LineReader(socket, maxLineBytes);
  }

  /**
   * After the backend's OK to STARTTLS (STLS): the handshake on the same socket within
   * `signal`, then a reader of the TLS socket. False when bytes came after the OK and before
   * the handshake: they were not sent under TLS, so they are refused, and the caller gives up
   * the backend.
   */
  async startTls(options: ConnectionOptions, signal: Cancellation): Promise<boolean> {
    if (this.reader.detach().length > 0) return false;
    const secure = await connectTls(this.socket as Socket, options, signal);
    this.socket = secure;
    this.reader = new LineReader(secure, this.maxLineBytes);
    return true;
  }
}
