import type { ClientMessage, MessageReader } from '../message-relay.js';

/**
 * The message of one transaction as the session reads it (DATA without its dots, or the BDAT
 * chunks), for the router. Its one reader (the router's MessageRelay) gets each piece as the
 * session reads it, in the same call; while the reader has paused, pieces are held here and the
 * client's socket is paused (`add` says so), until `resume` hands them over and lets the
 * session read the client again (`onDrain`). Not a stream: a message is a few calls, not a stream's state,
 * listeners and ticks.
 */
export class IncomingMessage implements ClientMessage {
  /** Bytes of the message as received. */
  byteLength = 0;
  /** It grew past the listener's limit: the rest is read and dropped, the reply is 552. */
  sizeExceeded = false;
  readonly #maxBytes: number;
  readonly #onDrain: () => void;
  #reader: MessageReader | undefined;
  /** Pieces the reader has not had: it had not begun, or it paused. */
  #held: Buffer[] = [];
  #paused = false;
  /** How it ended: complete (`finish`), or given up by the client (`abort`). */
  #ending: 'end' | 'abort' | undefined;
  /** The reader was told the end (or the abort): it gets nothing more. */
  #over = false;

  constructor(maxBytes: number, onDrain: () => void) {
    this.#maxBytes = maxBytes;
    this.#onDrain = onDrain;
  }

  /** The reader has paused: the client is to wait. */
  get paused(): boolean {
    return this.#paused;
  }

  /** A piece of the message; false when the reader wants no more for now. */
  add(bytes: Buffer): boolean {
    if (bytes.length === 0 || this.#ending !== undefined) return true;
    this.byteLength += bytes.length;
    if (this.sizeExceeded) return true;
    if (this.byteLength > this.#maxBytes) {
      this.sizeExceeded = true;
      return true;
    }
    const reader = this.#reader;
    if (reader === undefined || this.#paused) {
      this.#held.push(bytes);
      return false;
    }
    reader.data(bytes);
    return !this.#paused;
  }

  /** The message is complete (or given up: `sizeExceeded`). */
  finish(): void {
    this.#ending ??= 'end';
    this.#flow();
  }

  /** The client went away before the reader had the end: the message is given up. */
  abort(): void {
    if (this.#over) return;
    this.#ending = 'abort';
    this.#held = [];
    this.#flow();
  }

  read(reader: MessageReader): void {
    if (this.#reader) throw new Error('a message has one reader');
    this.#reader = reader;
    this.#flow();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flow();
  }

  /**
   * Hands the reader what it has not had, then the end. Once it took all, the client may be read
   * again (`onDrain`): more of the message, or after its end the next command.
   */
  #flow(): void {
    const reader = this.#reader;
    if (reader === undefined || this.#over) return;
    while (!this.#paused && this.#held.length > 0) reader.data(this.#held.shift() as Buffer);
    if (this.#paused && this.#ending !== 'abort') return;
    if (this.#ending !== undefined) {
      this.#over = true;
      if (this.#ending === 'end') reader.end();
      else reader.abort();
    }
    this.#onDrain();
  }
}
