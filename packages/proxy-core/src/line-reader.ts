import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { readLines, stopLines } from './backend-reads.js';
import type { Cancellation } from './deadline.js';

export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
}

export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}

/**
 * Reads CRLF-terminated lines (or byte counts) from a socket, bounded in length. `detach()`
 * hands back whatever was read but not consumed, so nothing is lost when the socket is then
 * spliced to another.
 */
export class LineReader {
  #buffer: Buffer = Buffer.alloc(0);
  #closed: Error | undefined;
  #wake: ((aborted?: unknown) => void) | undefined;
  #signal: Cancellation | undefined;
  readonly #onAbort = () => {
    this.#wake?.(this.#signal?.reason ?? new Error('aborted'));
  };
  readonly #socket: Duplex;
  readonly #maxLineBytes: number;
  /** A backend socket whose reads come straight here (backend-reads.ts), not as 'data'. */
  readonly #direct: boolean;
  readonly #onData = (chunk: Buffer) => {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#closed ??= new ConnectionClosedError('connection closed');
    this.#notify();
  };
  readonly #onError = (error: Error) => {
    this.#closed ??= error;
    this.#notify();
  };

  constructor(socket: Duplex, maxLineBytes: number) {
    this.#socket = socket;
    this.#maxLineBytes = maxLineBytes;
    this.#direct = socket instanceof Socket && readLines(socket, this.#onData);
    if (!this.#direct) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
  }

  /** The next line without its line ending. */
  async readLine(signal?: Cancellation): Promise<Buffer> {
    for (;;) {
      const line = this.takeLine();
      if (line !== undefined) return line;
      await this.#more(signal);
    }
  }

  /**
   * The next line, without its line ending, when the bytes hold a whole one; else undefined
   * (wait with `readLine`). A reply that came in one read with the one before it is taken in
   * the same turn, without a promise. Throws as `readLine` rejects when a line is too long.
   */
  takeLine(): Buffer | undefined {
    const end = this.#buffer.indexOf(0x0a);
    if (end === -1) {
      if (this.#buffer.length > this.#maxLineBytes) throw new LineTooLongError('line too long');
      return undefined;
    }
    const line = this.#buffer.subarray(
      0,
      end > 0 && this.#buffer[end - 1] === 0x0d ? end - 1 : end,
    );
    this.#buffer = this.#buffer.subarray(end + 1);
    if (line.length > this.#maxLineBytes) throw new LineTooLongError('line too long');
    return line;
  }

  /** Exactly `count` bytes (an IMAP literal). */
  async readBytes(count: number, signal?: Cancellation): Promise<Buffer> {
    while (this.#buffer.length < count) await this.#more(signal);
    const bytes = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return bytes;
  }

  /** Stops reading; returns the bytes received but not consumed. */
  detach(): Buffer {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    if (this.#direct) stopLines(this.#socket as Socket);
    else this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onError);
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  #more(signal?: Cancellation): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (signal !== this.#signal) this.#listen(signal);
    return new Promise<void>((resolve, reject) => {
      this.#wake = (aborted?: unknown) => {
        this.#wake = undefined;
        if (aborted !== undefined) reject(aborted);
        else if (this.#closed && this.#buffer.length === 0) reject(this.#closed);
        else resolve();
      };
    });
  }

  /** One listener per signal, not one per wait: a login reads several lines under one deadline. */
  #listen(signal: Cancellation | undefined): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #notify(): void {
    this.#wake?.();
  }
}
