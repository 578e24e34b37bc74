import { Transform, type TransformCallback } from 'node:stream';

const DOT = Buffer.from('.');
const CR = Buffer.from('\r');

/**
 * Message bytes to DATA wire form (RFC 5321 §4.5.2): a line that starts with "." gets another
 * one, bare LF becomes CRLF, and the end is ".\r\n" after a final CRLF. Works across chunk
 * boundaries; it jumps from line end to line end, so a chunk without them is passed on as is.
 * The last chunk is held until the next one or the end, so that the terminator leaves with the
 * message's last bytes, and a prefix (a trace header) with its first: a small message is one
 * write to the backend.
 */
export class DotStuffer extends Transform {
  #lineStart = true;
  #lastCr = false;
  #started = false;
  #held: Buffer | undefined;

  constructor(prefix?: Buffer) {
    super();
    this.#held = prefix;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) {
      done();
      return;
    }
    const first = !this.#started;
    this.#started = true;
    const out = this.#stuff(chunk);
    const held = this.#held;
    if (first || !held) {
      this.#held = held ? Buffer.concat([held, out]) : out;
      done();
      return;
    }
    this.#held = out;
    done(null, held);
  }

  override _flush(done: TransformCallback): void {
    const tail =
      !this.#started || this.#lineStart ? '.\r\n' : this.#lastCr ? '\n.\r\n' : '\r\n.\r\n';
    const held = this.#held;
    this.#held = undefined;
    done(null, held ? Buffer.concat([held, Buffer.from(tail)]) : Buffer.from(tail));
  }

  #stuff(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    let from = 0;
    if (this.#lineStart && chunk[0] === 0x2e) parts.push(DOT);
    for (let lf = chunk.indexOf(0x0a); lf !== -1; lf = chunk.indexOf(0x0a, lf + 1)) {
      const crBefore = lf > 0 ? chunk[lf - 1] === 0x0d : this.#lastCr;
      if (!crBefore) {
        parts.push(chunk.subarray(from, lf), CR);
        from = lf;
      }
      if (chunk[lf + 1] === 0x2e) {
        parts.push(chunk.subarray(from, lf + 1), DOT);
        from = lf + 1;
      }
    }
    const last = chunk[chunk.length - 1];
    this.#lastCr = last === 0x0d;
    this.#lineStart = last === 0x0a;
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }
}
