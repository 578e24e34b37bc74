import { Transform, type TransformCallback } from 'node:stream';

/**
 * Message bytes to DATA wire form (RFC 5321 §4.5.2): a line that starts with "." gets another
 * one, bare LF becomes CRLF, and the end is ".\r\n" after a final CRLF. Works across chunk
 * boundaries without holding more than one byte back.
 */
export class DotStuffer extends Transform {
  #lineStart = true;
  #lastCr = false;
  #any = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out: number[] = [];
    for (const byte of chunk) {
      this.#any = true;
      if (this.#lineStart && byte === 0x2e) out.push(0x2e);
      if (byte === 0x0a && !this.#lastCr) out.push(0x0d);
      out.push(byte);
      this.#lastCr = byte === 0x0d;
      this.#lineStart = byte === 0x0a;
    }
    done(null, Buffer.from(out));
  }

  override _flush(done: TransformCallback): void {
    const tail = !this.#any || this.#lineStart ? '.\r\n' : this.#lastCr ? '\n.\r\n' : '\r\n.\r\n';
    done(null, Buffer.from(tail));
  }
}
