import { type ScanLimits, scanCommand, type Token } from './scan.js';

/** What the session gets from the client's bytes. */
export type ReadEvent =
  | { readonly type: 'command'; readonly tokens: readonly Token[] }
  | { readonly type: 'invalid'; readonly reason: string }
  /** The stream can no longer be framed (line or literal beyond its limit): hang up. */
  | { readonly type: 'fatal'; readonly reason: string };

/**
 * Bytes in, commands out. A command is scanned again only when what it waits for may have
 * come (a line ending, or all of a literal), so a client that trickles bytes costs one scan
 * per line, and the buffer never holds more than one command's limits allow.
 */
export class SieveReader {
  #buffer: Buffer = Buffer.alloc(0);
  #failed = false;
  #wait: { need: number; lineFrom: number | undefined; max: number } | undefined;

  constructor(private readonly limits: ScanLimits) {}

  /** Bytes held now: never more than one command's limits allow. */
  get buffered(): number {
    return this.#buffer.length;
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  next(): ReadEvent | undefined {
    if (this.#failed) return undefined;
    const wait = this.#wait;
    if (wait) {
      const ready =
        this.#buffer.length >= wait.need &&
        (wait.lineFrom === undefined || this.#buffer.indexOf(0x0a, wait.lineFrom) !== -1);
      if (!ready) {
        return this.#buffer.length > wait.max ? this.#fail('line too long') : undefined;
      }
      this.#wait = undefined;
    }
    const result = scanCommand(this.#buffer, this.limits);
    switch (result.kind) {
      case 'incomplete':
        this.#wait = { need: result.need, lineFrom: result.lineFrom, max: result.max };
        return this.#buffer.length > result.max ? this.#fail('line too long') : undefined;
      case 'fatal':
        return this.#fail(result.reason);
      case 'invalid':
        this.#buffer = this.#buffer.subarray(result.consumed);
        return { type: 'invalid', reason: result.reason };
      case 'command':
        this.#buffer = this.#buffer.subarray(result.consumed);
        return { type: 'command', tokens: result.tokens };
    }
  }

  /** Bytes not yet read as commands: for the backend at the splice, dropped at STARTTLS. */
  takeRest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    this.#wait = undefined;
    return rest;
  }

  #fail(reason: string): ReadEvent {
    this.#failed = true;
    this.#buffer = Buffer.alloc(0);
    return { type: 'fatal', reason };
  }
}
