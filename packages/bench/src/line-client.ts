import type { Socket } from 'node:net';
import { dial, type Endpoint } from './endpoint.js';

const LF = 0x0a;
const MAX_LINE_BYTES = 1 << 20;

/**
 * Takes what one reply is made of from the bytes a server sends. `take` is given each chunk from
 * `at` and returns where it stopped: at the end of the chunk, or just after the reply's last
 * byte once `complete` (the rest belongs to the next reply).
 */
export interface Reader<T> {
  take(chunk: Buffer, at: number): number;
  readonly complete: boolean;
  readonly value: T;
}

interface Waiting {
  readonly reader: Reader<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A bare client for the line protocols (POP3, SMTP, LMTP) on a raw socket: replies are read in
 * the order they were asked for, each by its own Reader, so commands may be pipelined. Nothing
 * is kept beyond the reply being read. Every wait has a deadline.
 */
export class LineClient {
  /** Every byte received. */
  bytesReceived = 0;
  readonly #socket: Socket;
  readonly #closed: Promise<void>;
  readonly #queue: Waiting[] = [];
  /** Bytes that came while no reply was awaited (before the first read). */
  #spare: Buffer[] = [];
  #failure: Error | undefined;

  constructor(endpoint: Endpoint) {
    const socket = dial(endpoint);
    this.#socket = socket;
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      this.#feed(chunk);
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** The next reply not yet asked for, read by `reader`; `what` names it in errors. */
  read<T>(reader: Reader<T>, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      const timer = setTimeout(() => {
        this.#fail(new Error(`no answer to ${what} within ${timeoutMs} ms`));
        this.destroy();
      }, timeoutMs);
      this.#queue.push({ reader, resolve: resolve as (value: unknown) => void, reject, timer });
      if (this.#queue.length === 1 && this.#spare.length > 0) {
        const spare = this.#spare;
        this.#spare = [];
        for (const chunk of spare) this.#feed(chunk);
      }
    });
  }

  /** Resolves once the server has closed the connection (after QUIT). */
  async waitClosed(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`still open ${timeoutMs} ms after QUIT`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.#closed, late]);
    } finally {
      clearTimeout(timer);
      this.destroy();
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #feed(chunk: Buffer): void {
    let at = 0;
    try {
      while (at < chunk.length) {
        const head = this.#queue[0];
        if (!head) {
          this.#spare.push(chunk.subarray(at));
          return;
        }
        at = head.reader.take(chunk, at);
        if (head.reader.complete) {
          this.#queue.shift();
          clearTimeout(head.timer);
          head.resolve(head.reader.value);
        }
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      this.destroy();
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#queue.splice(0)) {
      clearTimeout(waiting.timer);
      waiting.reject(this.#failure);
    }
  }
}

/** Gathers one line across chunks; `line` is it without CRLF, once `complete`. */
export class LineReader implements Reader<string> {
  complete = false;
  value = '';
  #pieces: Buffer[] = [];
  #bytes = 0;

  take(chunk: Buffer, at: number): number {
    const lf = chunk.indexOf(LF, at);
    const end = lf === -1 ? chunk.length : lf + 1;
    this.#pieces.push(chunk.subarray(at, end));
    this.#bytes += end - at;
    if (this.#bytes > MAX_LINE_BYTES) {
      throw new Error(`the server sent a line longer than ${MAX_LINE_BYTES} bytes`);
    }
    if (lf !== -1) {
      this.value = Buffer.concat(this.#pieces, this.#bytes)
        .toString('latin1')
        .replace(/\r?\n$/, '');
      this.#pieces = [];
      this.complete = true;
    }
    return end;
  }
}
