import { Readable } from 'node:stream';

/**
 * The message of one transaction as the session reads it (DATA without its dots, or the BDAT
 * chunks), for the router: a Readable that the session pushes into and that asks for more when
 * its reader has caught up (`onDrain`, the client's socket is paused meanwhile).
 */
export class IncomingMessage extends Readable {
  /** Bytes of the message as received. */
  byteLength = 0;
  /** It grew past the listener's limit: the rest is read and dropped, the reply is 552. */
  sizeExceeded = false;
  readonly #maxBytes: number;
  readonly #onDrain: () => void;

  constructor(maxBytes: number, onDrain: () => void) {
    super();
    this.#maxBytes = maxBytes;
    this.#onDrain = onDrain;
  }

  /** A piece of the message; false when the reader wants no more for now. */
  add(bytes: Buffer): boolean {
    if (bytes.length === 0) return true;
    this.byteLength += bytes.length;
    if (this.sizeExceeded) return true;
    if (this.byteLength > this.#maxBytes) {
      this.sizeExceeded = true;
      return true;
    }
    return this.push(bytes);
  }

  /** The message is complete (or given up: `sizeExceeded`). */
  finish(): void {
    this.push(null);
  }

  override _read(): void {
    this.#onDrain();
  }
}
