import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * How often the backend sockets spliced lately are given their keepalive: one that is still
 * open at the second sweep after its splice (one to two of these) gets it.
 */
export const keepAliveSweepMs = 1000;

/**
 * Backend sockets waiting for their keepalive, in reused slots, each with its idle time and
 * the sweep it came after. Only open sessions' sockets are here: a session that ends empties
 * its slot (keepAliveEnded). A socket held a second or two past its session, or in a Map's
 * table left behind in the old generation, stayed alive through every young-generation
 * collection with all it points to, and was promoted for a full collection to find dead.
 */
const waiting: (Duplex | undefined)[] = [];
const idleTimes: number[] = [];
const cameAfter: number[] = [];
const freeSlots: number[] = [];
let sweeps = 0;
let held = 0;
let sweeping = false;

/**
 * TCP keepalive on a spliced session's backend socket: a backend that vanished sends nothing
 * and reads nothing, so without probes the session, its client connection and its memory stay
 * until a write fails, possibly hours later. Set a second or two after the splice, on the
 * sockets still open then: most sessions (a client that fetches its new mail and leaves) are
 * over by then, and each that is saves four setsockopt() calls. The first probe is due
 * `idleMs` (minutes) after the splice, so a second's delay changes nothing for one that lasts.
 * Returns the socket's slot for keepAliveEnded; -1 when keepalive is off.
 */
export function keepAliveSoon(idleMs: number, stream: Duplex): number {
  if (!(idleMs > 0)) return -1;
  const slot = freeSlots.pop() ?? waiting.length;
  waiting[slot] = stream;
  idleTimes[slot] = idleMs;
  cameAfter[slot] = sweeps;
  held += 1;
  if (!sweeping) {
    sweeping = true;
    setTimeout(sweep, keepAliveSweepMs).unref();
  }
  return slot;
}

/** The session of a socket given to keepAliveSoon has ended: it needs no keepalive. */
export function keepAliveEnded(slot: number, stream: Duplex): void {
  if (slot >= 0 && waiting[slot] === stream) release(slot);
}

/** Backend sockets waiting for a sweep (the session list's tests read it). */
export function keepAliveWaiting(): number {
  return held;
}

function release(slot: number): void {
  waiting[slot] = undefined;
  freeSlots.push(slot);
  held -= 1;
}

function sweep(): void {
  sweeps += 1;
  for (let slot = 0; slot < waiting.length; slot++) {
    const stream = waiting[slot];
    // One that came since the sweep before this has not lasted a whole sweep yet.
    if (stream === undefined || (cameAfter[slot] as number) >= sweeps - 1) continue;
    if (!stream.destroyed) setKeepAlive(stream, idleTimes[slot] as number);
    release(slot);
  }
  sweeping = held > 0;
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
