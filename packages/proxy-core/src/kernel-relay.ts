import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { loadNative } from './native.js';

/** The native module (native/splice.c, built into dist/splice.node). */
interface SpliceModule {
  relay(
    owner: KernelRelayOwner,
    clientFd: number,
    backendFd: number,
    headUp: Buffer | null,
    headDown: Buffer | null,
  ): KernelRelayHandle;
  counts(handle: KernelRelayHandle): [number, number];
  kick(handle: KernelRelayHandle): void;
  setLinger(ms: number): void;
  setThreadAfter(bytes: number): number;
}

/** A relay the kernel runs; valid until its owner hears that it ended. */
export type KernelRelayHandle = { readonly __kernelRelay: never };

/**
 * Told once, on the JavaScript thread, when both ways have ended or a socket failed. It
 * destroys both sockets there and then: their close takes them out of the relay's epoll set
 * and sends the FIN of the last way to end (the relay makes neither system call itself).
 */
export interface KernelRelayOwner {
  kernelRelayEnded(up: number, down: number, reason: string): void;
}

/** libuv's stream handle under a net.Socket: the fields the hand-over needs. */
interface StreamHandle {
  readonly fd?: number;
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

/** Node's stream machinery restarts reads on its own (a resume, a read ahead): not any more. */
function noReads(): number {
  return 0;
}

const loaded = loadNative<SpliceModule>('splice');
let enabled = loaded.module !== undefined;

/** Whether spliced sessions can go through the kernel here, and if not, why. */
export function kernelRelayAvailable(): { available: boolean; why: string } {
  return { available: loaded.module !== undefined, why: loaded.why };
}

/**
 * Turns the kernel relay on or off for sessions spliced from now on (the `relay` setting);
 * false when asked for and not available.
 */
export function useKernelRelay(on: boolean): boolean {
  enabled = on && loaded.module !== undefined;
  return enabled === on;
}

/** How long one way may stay open once the other has ended: the splice's linger. */
export function lingerInKernel(ms: number): void {
  loaded.module?.setLinger(ms);
}

function handleOf(socket: Duplex): StreamHandle | undefined {
  if (!(socket instanceof Socket) || socket instanceof TLSSocket) return undefined;
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  if (handle == null || typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
  return handle;
}

/** Whether Node has read the socket's end (its 'end' may still be behind buffered bytes). */
function endSeen(socket: Socket): boolean {
  const state = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState;
  return socket.readableEnded || state?.ended === true || socket.destroyed;
}

/** Whatever the socket read and nobody took yet, in one buffer (or null). */
function unread(socket: Socket): Buffer | null {
  if (socket.readableLength === 0) return null;
  const chunks: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) {
    chunks.push(chunk);
  }
  return chunks.length === 0 ? null : Buffer.concat(chunks);
}

/**
 * Hands two plain TCP sockets to the kernel relay, or returns undefined and leaves them as
 * they were: with TLS on either side (the bytes must be decrypted here), with writes still
 * queued on either (they would cross the relay's), or with the relay off or not built.
 * From here on Node does not read either socket; the owner destroys both when told it ended.
 */
export function relayInKernel(
  owner: KernelRelayOwner,
  client: Duplex,
  backend: Duplex,
): KernelRelayHandle | undefined {
  const module = loaded.module;
  if (!enabled || module === undefined) return undefined;
  const clientHandle = handleOf(client);
  const backendHandle = handleOf(backend);
  if (clientHandle === undefined || backendHandle === undefined) return undefined;
  const clientSocket = client as Socket;
  const backendSocket = backend as Socket;
  if (clientSocket.writableLength > 0 || backendSocket.writableLength > 0) return undefined;
  if (clientSocket.connecting || backendSocket.connecting) return undefined;
  // Past its end Node would close the socket on its own, under the relay.
  if (endSeen(clientSocket) || endSeen(backendSocket)) return undefined;
  // Stop Node reading for good, then take what it holds: both in this tick, so nothing is
  // read in between (libuv reads only when the event loop polls), and taking it starts no
  // read again.
  for (const handle of [clientHandle, backendHandle]) {
    handle.readStop();
    handle.readStart = noReads;
  }
  const headUp = unread(clientSocket);
  const headDown = unread(backendSocket);
  clientHandle.reading = false;
  backendHandle.reading = false;
  try {
    return module.relay(
      owner,
      clientHandle.fd as number,
      backendHandle.fd as number,
      headUp,
      headDown,
    );
  } catch {
    // Out of memory or descriptors in the relay: this session stays in Node, bytes and all.
    for (const handle of [clientHandle, backendHandle]) {
      delete (handle as Partial<StreamHandle>).readStart;
    }
    if (headUp) clientSocket.unshift(headUp);
    if (headDown) backendSocket.unshift(headDown);
    return undefined;
  }
}

/**
 * How many bytes a relay moves on the JavaScript thread before it goes on to the relay's own
 * thread (64 KiB); Infinity keeps every relay on the JavaScript thread. For tests of either:
 * returns what it was.
 */
export function relayThreadAfter(bytes: number): number {
  const was = loaded.module?.setThreadAfter(Number.isFinite(bytes) ? bytes : -1) ?? -1;
  return was < 0 ? Number.POSITIVE_INFINITY : was;
}

export function kernelCounts(handle: KernelRelayHandle): { up: number; down: number } {
  const [up, down] = (loaded.module as SpliceModule).counts(handle);
  return { up, down };
}

export function kickKernelRelay(handle: KernelRelayHandle): void {
  (loaded.module as SpliceModule).kick(handle);
}
