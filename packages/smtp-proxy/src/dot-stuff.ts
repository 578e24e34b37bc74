const DOT = Buffer.from('.');
const CR = Buffer.from('\r');

/**
 * Message bytes to DATA wire form (RFC 5321 §4.5.2): a line that starts with "." gets another
 * one, bare LF becomes CRLF, and `end()` gives the terminator after a final CRLF. Works across
 * chunk boundaries; it jumps from line end to line end, so a chunk without them is passed on
 * as is. With `dots: false` (BDAT, RFC 3030) only the line ends are made CRLF, and there is no
 * terminator.
 */
export class DotStuffer {
  readonly #dots: boolean;
  #lineStart = true;
  #lastCr = false;
  #started = false;

  constructor(options: { readonly dots: boolean } = { dots: true }) {
    this.#dots = options.dots;
  }

  /** The chunk in wire form: the same buffer when nothing needed changing. */
  stuff(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    this.#started = true;
    const parts: Buffer[] = [];
    let from = 0;
    const dots = this.#dots;
    if (dots && this.#lineStart && chunk[0] === 0x2e) parts.push(DOT);
    for (let lf = chunk.indexOf(0x0a); lf !== -1; lf = chunk.indexOf(0x0a, lf + 1)) {
      const crBefore = lf > 0 ? chunk[lf - 1] === 0x0d : this.#lastCr;
      if (!crBefore) {
        parts.push(chunk.subarray(from, lf), CR);
        from = lf;
      }
      if (dots && chunk[lf + 1] === 0x2e) {
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

  /** The end of the message: a CRLF if the last line lacks one, then ".\r\n" (DATA only). */
  end(): Buffer {
    const lineEnd = !this.#started || this.#lineStart ? '' : this.#lastCr ? '\n' : '\r\n';
    return Buffer.from(this.#dots ? `${lineEnd}.\r\n` : lineEnd);
  }
}
