import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * How often the backend sockets spliced lately are given their keepalive: one that is still
 * open at the second sweep after its splice (one to two of these) gets it.
 */
export const keepAliveSweepMs = 1000;

/** Backend sockets spliced since the last sweep, and those of the sweep before, each with its idle time. */
let spliced: (Duplex | number)[] = [];
let waited: (Duplex | number)[] = [];
let sweeping = false;

/**
 * TCP keepalive on a spliced session's backend socket: a backend that vanished sends nothing
 * and reads nothing, so without probes the session, its client connection and its memory stay
 * until a write fails, possibly hours later. Set a second or two after the splice, on the
 * sockets still open then: most sessions (a client that fetches its new mail and leaves) are
 * over by then, and each that is saves four setsockopt() calls. The first probe is due
 * `idleMs` (minutes) after the splice, so a second's delay changes nothing for one that lasts.
 */
export function keepAliveSoon(idleMs: number, stream: Duplex): void {
  if (!(idleMs > 0)) return;
  spliced.push(stream, idleMs);
  if (sweeping) return;
  sweeping = true;
  setTimeout(sweep, keepAliveSweepMs).unref();
}

function sweep(): void {
  for (let i = 0; i < waited.length; i += 2) {
    const stream = waited[i] as Duplex;
    if (!stream.destroyed) setKeepAlive(stream, waited[i + 1] as number);
  }
  waited = spliced;
  spliced = [];
  sweeping = waited.length > 0;
  if (sweeping) setTimeout(sweep, keepAliveSweepMs).unref();
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
