/**
 * The pre-login POP3 line reader: bytes in, lines out, no socket. RFC 1939 §3: commands are
 * lines ending in CRLF (a bare LF is taken too). A line longer than the limit ends the
 * conversation: POP3 has no way to find the next command in what follows.
 */
export type ReadEvent =
  | { readonly type: 'line'; readonly line: Buffer }
  | { readonly type: 'too-long' };

export class Pop3Reader {
  #buffer: Buffer = Buffer.alloc(0);
  #failed = false;
  readonly #maxLineBytes: number;

  /** `maxLineBytes` counts the line without its CRLF. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The next complete line without its line ending; undefined until one has arrived. */
  next(): ReadEvent | undefined {
    if (this.#failed) return undefined;
    const end = this.#buffer.indexOf(0x0a);
    if (end === -1) {
      // Room for the longest line and its CR; one byte more cannot end well.
      return this.#buffer.length > this.#maxLineBytes + 1 ? this.#fail() : undefined;
    }
    const stop = end > 0 && this.#buffer[end - 1] === 0x0d ? end - 1 : end;
    if (stop > this.#maxLineBytes) return this.#fail();
    const line = this.#buffer.subarray(0, stop);
    this.#buffer = this.#buffer.subarray(end + 1);
    return { type: 'line', line };
  }

  /** Bytes received but not yet read as lines: for the backend at the splice, dropped at STLS. */
  takeRest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  #fail(): ReadEvent {
    this.#failed = true;
    this.#buffer = Buffer.alloc(0);
    return { type: 'too-long' };
  }
}
