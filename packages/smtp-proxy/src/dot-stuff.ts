import { Transform, type TransformCallback } from 'node:stream';

const DOT = Buffer.from('.');
const CR = Buffer.from('\r');

/**
 * Message bytes to DATA wire form (RFC 5321 §4.5.2): a line that starts with "." gets another
 * one, bare LF becomes CRLF, and the end is ".\r\n" after a final CRLF. Works across chunk
 * boundaries; it jumps from line end to line end, so a chunk without them is passed on as is.
 */
export class DotStuffer extends Transform {
  #lineStart = true;
  #lastCr = false;
  #any = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) {
      done();
      return;
    }
    this.#any = true;
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
    if (parts.length === 0) {
      done(null, chunk);
      return;
    }
    parts.push(chunk.subarray(from));
    done(null, Buffer.concat(parts));
  }

  override _flush(done: TransformCallback): void {
    const tail = !this.#any || this.#lineStart ? '.\r\n' : this.#lastCr ? '\n.\r\n' : '\r\n.\r\n';
    done(null, Buffer.from(tail));
  }
}
