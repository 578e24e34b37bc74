import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * TCP keepalive on a spliced session's sockets: a client gone behind a NAT, or a backend
 * that vanished, sends nothing and reads nothing, so without probes its session, its other
 * connection and its memory stay until a write fails, possibly hours later.
 */
export function keepAlive(idleMs: number, ...streams: Duplex[]): void {
  if (!(idleMs > 0)) return;
  for (const stream of streams) setKeepAlive(stream, idleMs);
}

/**
 * The keepalive a spliced client socket needs, given what it has from its listener
 * (`inheritedMs`, 0 for none): nothing to do when that is it already, as it usually is.
 */
export function clientKeepAlive(stream: Duplex, inheritedMs: number, idleMs: number): void {
  const wanted = Math.max(idleMs, 0);
  if (wanted === inheritedMs) return;
  if (wanted > 0) setKeepAlive(stream, wanted);
  else if ('setKeepAlive' in stream && typeof stream.setKeepAlive === 'function') {
    stream.setKeepAlive(false);
  }
}

function setKeepAlive(stream: Duplex, idleMs: number): void {
  // TLSSocket passes this on to the TCP socket beneath it.
  if ('setKeepAlive' in stream && typeof stream.setKeepAlive === 'function') {
    stream.setKeepAlive(true, idleMs);
  }
}

/**
 * Keepalive set once on the listening socket, which Linux hands down to every connection it
 * accepts: four setsockopt() calls per session fewer than setting it on each. Returns the idle
 * time the accepted sockets have from it, 0 when it could not be set (a listener shared through
 * a cluster primary, whole seconds only): then each spliced socket gets its own.
 */
export function listenerKeepAlive(server: Server, idleMs: number): number {
  if (process.platform !== 'linux' || !(idleMs >= 1000) || idleMs % 1000 !== 0) return 0;
  const handle = (server as unknown as { _handle?: { setKeepAlive?: unknown } })._handle;
  if (typeof handle?.setKeepAlive !== 'function') return 0;
  const status = (handle.setKeepAlive as (on: boolean, seconds: number) => number).call(
    handle,
    true,
    idleMs / 1000,
  );
  return status === 0 ? idleMs : 0;
}
