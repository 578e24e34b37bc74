import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';

/** Where a client connects: a loopback port, plaintext or implicit TLS. */
export interface Endpoint {
  readonly port: number;
  readonly tls?: TlsClient | undefined;
  /** The client's own loopback address (127.0.0.0/8); the kernel's pick when absent. */
  readonly localAddress?: string | undefined;
}

export function dial(endpoint: Endpoint): Socket {
  if (endpoint.tls) return endpoint.tls.connect(endpoint.port);
  const { port, localAddress } = endpoint;
  return connect({ host: '127.0.0.1', port, noDelay: true, ...(localAddress && { localAddress }) });
}

/**
 * The client side of implicit TLS, checking the server against the test CA. With `resume`, each
 * connection offers the last session (TLS 1.3 ticket) a server of this endpoint gave, so the
 * handshake can be resumed; without, every handshake is a full one. Counts which it was.
 */
export class TlsClient {
  full = 0;
  resumed = 0;
  #session: Buffer | undefined;

  constructor(
    readonly ca: string,
    readonly resume: boolean,
  ) {}

  connect(port: number): TLSSocket {
    const socket = connectTls({
      host: '127.0.0.1',
      port,
      ca: this.ca,
      ...(this.resume && this.#session ? { session: this.#session } : {}),
    });
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) this.resumed += 1;
      else this.full += 1;
    });
    if (this.resume) {
      socket.on('session', (session: Buffer) => {
        this.#session = session;
      });
    }
    return socket;
  }

  /** Share of the handshakes so far that were resumed, then counting starts over. */
  takeResumedShare(): number {
    const share = this.resumed / Math.max(1, this.full + this.resumed);
    this.full = 0;
    this.resumed = 0;
    return share;
  }
}
