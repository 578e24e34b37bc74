import { connect, type Socket } from 'node:net';

/**
 * A read this size is worth a buffer of its own: one syscall per megabyte instead of sixteen,
 * into memory that stays in the cache because it is read into again and again.
 */
const bulkSize = 1024 * 1024;
/**
 * Connections that are not in the middle of a burst all read into this one buffer and copy
 * out at once, so an idle session holds no read buffer of its own.
 */
const sharedSize = 64 * 1024;
const shared = Buffer.allocUnsafe(sharedSize);
/**
 * Buffers no connection holds, for the next burst (bulk) and for copies out of the shared
 * buffer; more than `spareMax` of a size are left to the GC.
 */
const spareBulk: Buffer[] = [];
const spareCopies: Buffer[] = [];
const spareMax = 8;

/** Where a relaying connection's bytes go: the client, which may be slower. */
export interface ReadTarget {
  /**
   * Bytes from the backend; a false return pauses reading until `resume()`. `written`, when
   * given, is called once the bytes are no longer referenced (written out, or dropped).
   */
  readonly take: (bytes: Buffer, written?: (error?: Error | null) => void) => boolean;
}

/** What returns a buffer to its spares once its bytes are written. */
function spareAgain(spares: Buffer[], buffer: Buffer): () => void {
  return () => {
    if (spares.length < spareMax) spares.push(buffer);
  };
}

const readers = new WeakMap<Socket, BackendReads>();

/**
 * A plain backend connection whose reads homing manages itself (net's `onread`). Until
 * `relayTo` it behaves as any socket ('data' events with a copy of each read, for the
 * greeting and the login); after, reads go straight to the client, in bulk when a burst runs.
 * Never for TLS: a TLS socket reads the TCP connection underneath on its own.
 */
class BackendReads {
  socket: Socket | undefined;
  /** Before the splice: the pre-login dialogue's line reader, given each read without events. */
  lines: ((bytes: Buffer) => void) | undefined;
  #target: ReadTarget | undefined;
  #buffer: Buffer = shared;
  #full = false;

  readonly onread = {
    buffer: () => this.#next(),
    // `buffer` is always one of ours, a Buffer.
    callback: (length: number, buffer: Uint8Array) => this.#read(length, buffer as Buffer),
  };

  relayTo(target: ReadTarget): void {
    this.#target = target;
  }

  #read(length: number, buffer: Buffer): boolean {
    this.#full = length === buffer.length;
    const bytes = buffer.subarray(0, length);
    if (this.#target === undefined) {
      if (this.lines === undefined) return this.socket?.push(Buffer.from(bytes)) ?? false;
      this.lines(Buffer.from(bytes));
      return true;
    }
    // Buffers go back to the spares once written: never dropped while a slower client (TLS,
    // a slow reader) still has them queued, and never made anew for each read, which made up
    // to a megabyte of garbage a read (V8 collects memory outside its heap with full
    // collections: TLS RETR spent more CPU in the collector than in the relay).
    if (buffer !== shared) return this.#target.take(bytes, spareAgain(spareBulk, buffer));
    // The shared buffer is read into by the next connection's read: copy what it holds.
    if (length < 4096) return this.#target.take(Buffer.from(bytes));
    const copy = spareCopies.pop() ?? Buffer.allocUnsafeSlow(sharedSize);
    bytes.copy(copy);
    return this.#target.take(copy.subarray(0, length), spareAgain(spareCopies, copy));
  }

  #next(): Buffer {
    this.#buffer =
      this.#full && this.#target !== undefined
        ? (spareBulk.pop() ?? Buffer.allocUnsafeSlow(bulkSize))
        : shared;
    return this.#buffer;
  }
}

/** A plain TCP connection to a backend whose reads `relayReads` can later take over. */
export function connectWithOwnReads(host: string, port: number, localAddress?: string): Socket {
  const reads = new BackendReads();
  const socket = connect({ host, port, localAddress, noDelay: true, onread: reads.onread });
  reads.socket = socket;
  readers.set(socket, reads);
  return socket;
}

/** Sends the socket's reads to `target` from now on; false if it is not such a socket. */
export function relayReads(socket: Socket, target: ReadTarget): boolean {
  const reads = readers.get(socket);
  if (reads === undefined) return false;
  reads.relayTo(target);
  return true;
}

/**
 * Gives the socket's reads to `take` as they come, with no 'data' events in between (a copy of
 * each: the read buffer is shared); false if it is not such a socket. Until `stopLines`, which
 * leaves what comes after in the socket for the splice.
 */
export function readLines(socket: Socket, take: (bytes: Buffer) => void): boolean {
  const reads = readers.get(socket);
  if (reads === undefined) return false;
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) {
    take(chunk);
  }
  reads.lines = take;
  return true;
}

export function stopLines(socket: Socket): void {
  const reads = readers.get(socket);
  if (reads !== undefined) reads.lines = undefined;
}
