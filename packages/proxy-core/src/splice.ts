import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { type ReadTarget, relayReads } from './backend-reads.js';
import {
  type KernelRelayHandle,
  type KernelRelayOwner,
  kernelCounts,
  kickKernelRelay,
  lingerInKernel,
  relayInKernel,
} from './kernel-relay.js';

export interface SpliceResult {
  /** Bytes from the client to the backend. */
  readonly up: number;
  /** Bytes from the backend to the client. */
  readonly down: number;
  /** Who ended it: `client`, `backend`, or `error: ...`. */
  readonly reason: string;
}

/** How long a side may linger, ended, once the other has closed. */
const lingerMs = 5000;
lingerInKernel(lingerMs);

/**
 * Each socket points to its splice, so that every listener is one function shared by all
 * sessions: an idle session holds no closures of its own, only the two sockets and this.
 */
const owner = Symbol('splice');
type Spliced = Duplex & { [owner]?: Splice };

/**
 * Relays client and backend into each other with backpressure (a false `write()` pauses the
 * faster side until the slower one drains). A half-close is passed on: the client's FIN ends
 * the backend's write side and the backend may still answer. Nothing is parsed: whatever the
 * protocol does from here on just works. `ended` runs once both sockets have closed.
 *
 * Two plain TCP sockets go to the kernel relay where it is built and on (kernel-relay.ts):
 * the same relay, half-close and linger, with the bytes never passing through Node.
 */
export class Splice implements ReadTarget, KernelRelayOwner {
  /** Bytes from the client to the backend, and back, so far. */
  up = 0;
  down = 0;
  #reason: string | undefined;
  #open = 2;
  #kernel: KernelRelayHandle | undefined;

  constructor(
    readonly clientSide: Duplex,
    readonly backendSide: Duplex,
  ) {
    this.#kernel = relayInKernel(this, clientSide, backendSide);
    if (this.#kernel !== undefined) {
      // Nothing reads or writes them in Node until they are destroyed; an error there is moot.
      clientSide.on('error', ignore);
      backendSide.on('error', ignore);
      return;
    }
    const client = clientSide as Spliced;
    const backend = backendSide as Spliced;
    client[owner] = this;
    backend[owner] = this;
    for (const socket of [client, backend]) {
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('drain', onDrain);
      // Gone already: its 'close' may have passed; counted once the subclass is built.
      if (socket.destroyed) process.nextTick(closeLater, this, socket);
      else socket.on('close', onClose);
    }
    client.on('data', onData);
    if (!this.#relayInBulk()) backend.on('data', onData);
    // The session paused the client while it logged in.
    client.resume();
    // Flowing, so that the end of the backend's data is seen.
    backend.resume();
  }

  /** Where the bytes move, for the session list. */
  get relay(): 'kernel' | 'node' {
    return this.#kernel !== undefined ? 'kernel' : 'node';
  }

  /** Bytes so far, for the session list. */
  counts(): { up: number; down: number } {
    if (this.#kernel !== undefined) return kernelCounts(this.#kernel);
    return { up: this.up, down: this.down };
  }

  /** Ends both sides at once (kick, drain timeout). */
  destroy(reason: string): void {
    this.#reason ??= reason;
    // The kernel relay sees both sockets shut and reports the end; only then are they closed.
    if (this.#kernel !== undefined) {
      kickKernelRelay(this.#kernel);
      return;
    }
    this.clientSide.destroy();
    this.backendSide.destroy();
  }

  /** The kernel relay has let go of both sockets: close them. */
  kernelRelayEnded(up: number, down: number, reason: string): void {
    this.#kernel = undefined;
    this.up = up;
    this.down = down;
    this.first(reason);
    this.clientSide.destroy();
    this.backendSide.destroy();
    this.ended({ up, down, reason: this.#reason ?? reason });
  }

  /** Called once, when both sides have closed. */
  protected ended(_result: SpliceResult): void {}

  /** Bytes read from a backend whose reads homing manages (backend-reads.ts). */
  take(bytes: Buffer, written?: (error?: Error | null) => void): boolean {
    this.down += bytes.length;
    const client = this.clientSide;
    if (client.writableEnded || client.destroyed) {
      written?.();
      return true;
    }
    return client.write(bytes, written);
  }

  // What the listeners below share, each of them one function for every splice.

  /** The first reason given is the one the session ends with. */
  first(reason: string): void {
    this.#reason ??= reason;
  }

  sideOf(socket: Duplex): string {
    return socket === this.clientSide ? 'client' : 'backend';
  }

  peerOf(socket: Duplex): Duplex {
    return socket === this.clientSide ? this.backendSide : this.clientSide;
  }

  closed(socket: Duplex): void {
    // When one side is fully closed the other has nothing left to say to it.
    this.first(this.sideOf(socket));
    const peer = this.peerOf(socket);
    // end() on a stream that has ended makes an error object (stack and all): skip it.
    if (!peer.writableEnded) peer.end();
    if (!peer.destroyed) setTimeout(destroyLater, lingerMs, peer).unref();
    this.#open -= 1;
    if (this.#open === 0) {
      this.ended({ up: this.up, down: this.down, reason: this.#reason ?? 'closed' });
    }
  }

  /**
   * Backend to client without 'data' events, for a plain backend whose reads homing manages
   * (see backend-reads.ts), and a client with or without TLS (a TLS client encrypts what it is
   * given as it is written; before, each 64 KiB read was copied for a 'data' event and TLS FETCH
   * cost 1.4 ms of CPU per MB, now 1.0). With TLS to the backend: false, 'data' instead.
   */
  #relayInBulk(): boolean {
    const { clientSide: client, backendSide: backend } = this;
    if (!(backend instanceof Socket) || backend instanceof TLSSocket) return false;
    if (!(client instanceof Socket)) return false;
    if (!relayReads(backend, this)) return false;
    // Read before the splice and not yet taken: no read comes in between, this is one tick.
    for (let chunk = backend.read() as Buffer | null; chunk !== null; chunk = backend.read()) {
      this.take(chunk);
    }
    return true;
  }
}

function splices(socket: Duplex): Splice {
  return (socket as Spliced)[owner] as Splice;
}

/** One chunk counted and written on; a full peer pauses this side until it drains. */
function onData(this: Duplex, chunk: Buffer): void {
  const splice = splices(this);
  const peer = splice.peerOf(this);
  if (peer === splice.backendSide) splice.up += chunk.length;
  else splice.down += chunk.length;
  // A side that is gone takes nothing more; the other is ended and destroyed soon.
  if (peer.writableEnded || peer.destroyed) return;
  if (!peer.write(chunk)) this.pause();
}

function onDrain(this: Duplex): void {
  splices(this).peerOf(this).resume();
}

function onEnd(this: Duplex): void {
  const splice = splices(this);
  splice.first(splice.sideOf(this));
  const peer = splice.peerOf(this);
  if (!peer.writableEnded) peer.end();
}

function onError(this: Duplex, error: Error): void {
  const splice = splices(this);
  splice.first(`error: ${splice.sideOf(this)}: ${error.message}`);
  splice.clientSide.destroy();
  splice.backendSide.destroy();
}

function onClose(this: Duplex): void {
  splices(this).closed(this);
}

function closeLater(splice: Splice, socket: Duplex): void {
  splice.closed(socket);
}

function destroyLater(socket: Duplex): void {
  socket.destroy();
}

function ignore(): void {}
