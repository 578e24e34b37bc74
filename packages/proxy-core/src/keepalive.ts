import type { Duplex } from 'node:stream';

/**
 * TCP keepalive on a spliced session's sockets: a client gone behind a NAT, or a backend
 * that vanished, sends nothing and reads nothing, so without probes its session, its other
 * connection and its memory stay until a write fails, possibly hours later.
 */
export function keepAlive(idleMs: number, ...streams: Duplex[]): void {
  if (!(idleMs > 0)) return;
  for (const stream of streams) {
    // TLSSocket passes this on to the TCP socket beneath it.
    if ('setKeepAlive' in stream && typeof stream.setKeepAlive === 'function') {
      stream.setKeepAlive(true, idleMs);
    }
  }
}
