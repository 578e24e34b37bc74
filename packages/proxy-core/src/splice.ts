import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { relayReads } from './backend-reads.js';

export interface SpliceResult {
  /** Bytes from the client to the backend. */
  readonly up: number;
  /** Bytes from the backend to the client. */
  readonly down: number;
  /** Who ended it: `client`, `backend`, or `error: ...`. */
  readonly reason: string;
}

export interface Splice {
  readonly done: Promise<SpliceResult>;
  /** Bytes so far, for the session list. */
  counts(): { up: number; down: number };
  /** Ends both sides at once (kick, drain timeout). */
  destroy(reason: string): void;
}

/**
 * Relays client and backend into each other with backpressure (a false `write()` pauses the
 * faster side until the slower one drains). A half-close is passed on: the client's FIN ends
 * the backend's write side and the backend may still answer. Nothing is parsed: whatever the
 * protocol does from here on just works.
 */
export function splice(client: Duplex, backend: Duplex): Splice {
  let up = 0;
  let down = 0;
  let reason: string | undefined;
  const first = (why: string) => {
    reason ??= why;
  };
  client.once('end', () => first('client'));
  backend.once('end', () => first('backend'));
  const onError = (side: string) => (error: Error) => {
    first(`error: ${side}: ${error.message}`);
    client.destroy();
    backend.destroy();
  };
  client.on('error', onError('client'));
  backend.on('error', onError('backend'));

  const closed = (socket: Duplex) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  // When one side is fully closed the other has nothing left to say to it.
  client.once('close', () => {
    first('client');
    // end() on a stream that has ended makes an error object (stack and all): skip it.
    if (!backend.writableEnded) backend.end();
    setTimeout(() => backend.destroy(), 5000).unref();
  });
  backend.once('close', () => {
    first('backend');
    if (!client.writableEnded) client.end();
    setTimeout(() => client.destroy(), 5000).unref();
  });

  relay(client, backend, (n) => {
    up += n;
  });
  if (!relayInBulk(backend, client, (n) => (down += n))) {
    relay(backend, client, (n) => {
      down += n;
    });
  }
  const done = Promise.all([closed(client), closed(backend)]).then(() => ({
    up,
    down,
    reason: reason ?? 'closed',
  }));
  return {
    done,
    counts: () => ({ up, down }),
    destroy(why: string) {
      first(why);
      client.destroy();
      backend.destroy();
    },
  };
}

/** One direction: each chunk counted and written on; a full `to` pauses `from`. */
function relay(from: Duplex, to: Duplex, count: (bytes: number) => void): void {
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    // A side that is gone takes nothing more; the other is ended and destroyed soon.
    if (to.writableEnded || to.destroyed) return;
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => {
    if (!to.writableEnded) to.end();
  });
  // The session paused the client while it logged in.
  from.resume();
}

/**
 * Backend to client without 'data' events, for a plain backend whose reads homing manages
 * (see backend-reads.ts), and a plain client. With TLS on either side: false, relay() instead.
 */
function relayInBulk(backend: Duplex, client: Duplex, count: (bytes: number) => void): boolean {
  if (!(backend instanceof Socket) || backend instanceof TLSSocket) return false;
  if (!(client instanceof Socket) || client instanceof TLSSocket) return false;
  const take = (bytes: Buffer) => {
    count(bytes.length);
    if (client.writableEnded || client.destroyed) return true;
    return client.write(bytes);
  };
  if (!relayReads(backend, { take, holds: () => client.writableLength > 0 })) return false;
  // Read before the splice and not yet taken: no read comes in between, this is one tick.
  for (let chunk = backend.read() as Buffer | null; chunk !== null; chunk = backend.read()) {
    take(chunk);
  }
  client.on('drain', () => backend.resume());
  backend.once('end', () => {
    if (!client.writableEnded) client.end();
  });
  // Flowing, so that the end of the backend's data is seen.
  backend.resume();
  return true;
}
