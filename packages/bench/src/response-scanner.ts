/**
 * Splits what an IMAP server sends into responses without keeping the literals: a FETCH of
 * 50 MB passes through it with only the response lines looked at. Pure: bytes in, lines out.
 */

const LF = 0x0a;
// A line that ends in a literal announcement: `{123}` or, in BINARY, `~{123}` (RFC 9051 §4.3).
const LITERAL = /~?\{(\d+)\}\r?\n$/;
const MAX_LINE_BYTES = 1 << 20;

export class ResponseScanner {
  /** Literal bytes seen so far (message data of FETCH BODY[] responses). */
  literalBytes = 0;
  readonly #onResponse: (firstLine: string) => void;
  #pieces: Buffer[] = [];
  #pieceBytes = 0;
  #literalLeft = 0;
  /** The next line continues a response after a literal, so it does not start a new one. */
  #continued = false;

  /** `onResponse` gets the first line of each response, without CRLF, up to any literal. */
  constructor(onResponse: (firstLine: string) => void) {
    this.#onResponse = onResponse;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#literalLeft > 0) {
        const n = Math.min(this.#literalLeft, chunk.length - at);
        this.#literalLeft -= n;
        this.literalBytes += n;
        at += n;
        continue;
      }
      const lf = chunk.indexOf(LF, at);
      if (lf === -1) {
        this.#keep(chunk.subarray(at));
        return;
      }
      this.#keep(chunk.subarray(at, lf + 1));
      at = lf + 1;
      this.#line(this.#takeLine());
    }
  }

  #keep(piece: Buffer): void {
    this.#pieces.push(piece);
    this.#pieceBytes += piece.length;
    if (this.#pieceBytes > MAX_LINE_BYTES) {
      throw new Error(`the server sent a line longer than ${MAX_LINE_BYTES} bytes`);
    }
  }

  #takeLine(): string {
    const [only] = this.#pieces;
    const bytes =
      this.#pieces.length === 1 && only ? only : Buffer.concat(this.#pieces, this.#pieceBytes);
    this.#pieces = [];
    this.#pieceBytes = 0;
    return bytes.toString('latin1');
  }

  #line(line: string): void {
    const literal = LITERAL.exec(line);
    if (!this.#continued) this.#onResponse(line.replace(/\r?\n$/, ''));
    this.#continued = literal !== null;
    if (literal) this.#literalLeft = Number(literal[1]);
  }
}
