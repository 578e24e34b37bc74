/**
 * Reads a dot-terminated multi-line body (POP3 RETR, RFC 1939 §3) without keeping it: only the
 * starts of lines that begin with "." are looked at, found with one search for "\n." per such
 * line, so a 50 MB body costs about as little to read as an IMAP literal. Pure: bytes in, sizes
 * out.
 */
import type { Reader } from './line-client.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const LF_DOT = Buffer.from('\n.', 'latin1');

/** Where the reader is: within a line, at a line's start, after "." or ".\r" there. */
type State = 'inside' | 'start' | 'dot' | 'dot-cr';

export class DotBodyReader implements Reader<number> {
  complete = false;
  /** The body's bytes without the stuffed dots and the terminating ".\r\n": the message size. */
  value = 0;
  #state: State = 'start';

  take(chunk: Buffer, at: number): number {
    let pos = at;
    while (pos < chunk.length) {
      switch (this.#state) {
        case 'inside': {
          const found = chunk.indexOf(LF_DOT, pos);
          if (found === -1) {
            this.value += chunk.length - pos;
            this.#state = chunk[chunk.length - 1] === LF ? 'start' : 'inside';
            return chunk.length;
          }
          this.value += found + 1 - pos;
          pos = found + 1;
          this.#state = 'start';
          break;
        }
        case 'start':
          if (chunk[pos] === DOT) {
            pos += 1;
            this.#state = 'dot';
          } else {
            this.#state = 'inside';
          }
          break;
        case 'dot':
          // ".\r" may end the body; any other dot at a line's start was stuffed: it is dropped.
          if (chunk[pos] === CR) {
            pos += 1;
            this.#state = 'dot-cr';
          } else {
            this.#state = 'inside';
          }
          break;
        case 'dot-cr':
          if (chunk[pos] === LF) {
            this.complete = true;
            return pos + 1;
          }
          // "." CR and no LF: not the end after all; the CR is data.
          this.value += 1;
          this.#state = 'inside';
          break;
      }
    }
    return pos;
  }
}
