const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const DOT_BYTE = Buffer.from('.');
const DOT_CR = Buffer.from('.\r');

/** Where the reader stands between two chunks. */
enum At {
  /** Inside a line. */
  Text,
  /** Inside a line, the last byte a CR. */
  Cr,
  /** At the start of a line (after CRLF). */
  LineStart,
  /** A line began with "." (held back: it is a stuffing dot or the terminator's). */
  Dot,
  /** A line began with ".\r" (both held back). */
  DotCr,
}

/** What one chunk gave: message bytes, and whether the message ended in it. */
export interface DotRead {
  /** The message's bytes in this chunk, dots removed; views of the chunk where possible. */
  readonly bytes: Buffer;
  /** Bytes of the chunk that belonged to the message (its terminator included). */
  readonly consumed: number;
  readonly ended: boolean;
}

const NOTHING = Buffer.alloc(0);

/**
 * The message of DATA as it arrives (RFC 5321 §4.5.2): a line that starts with ".." loses its
 * first dot, and the message ends at CRLF "." CRLF, the final CRLF being the message's own last
 * line end. A line with one leading dot and more (which a sender that stuffs never writes) keeps
 * its dot: a sender that forgot to stuff loses nothing.
 * Works across chunk boundaries: the terminator or a stuffing dot may be cut anywhere. Only
 * CRLF ends a line here: a bare LF followed by "." is message text, so `\n.\n` or `\n.\r\n`
 * never ends the message (what SMTP smuggling relies on), and the relay to the backends stuffs
 * such a line again.
 */
export class DotReader {
  #at: At = At.LineStart;

  /** Starts over for the next message (the DATA command's line end was a line start). */
  reset(): void {
    this.#at = At.LineStart;
  }

  push(chunk: Buffer): DotRead {
    const parts: Buffer[] = [];
    const length = chunk.length;
    let from = 0;
    let i = 0;
    // The state a previous chunk left.
    while (i < length && this.#at !== At.Text) {
      const byte = chunk[i] as number;
      switch (this.#at) {
        case At.Cr:
          if (byte === LF) {
            this.#at = At.LineStart;
            i += 1;
          } else this.#at = At.Text;
          break;
        case At.LineStart:
          if (byte === DOT) {
            if (i > from) parts.push(chunk.subarray(from, i));
            i += 1;
            from = i;
            this.#at = At.Dot;
          } else this.#at = At.Text;
          break;
        case At.Dot:
          if (byte === CR) {
            i += 1;
            from = i;
            this.#at = At.DotCr;
          } else {
            // ".." : the first is stuffing; a lone dot stays (see the class).
            if (byte !== DOT) parts.push(DOT_BYTE);
            this.#at = At.Text;
          }
          break;
        case At.DotCr:
          if (byte === LF) return this.#end(parts, chunk, from, i + 1);
          parts.push(DOT_CR);
          this.#at = At.Text;
          break;
      }
    }
    // Line end to line end.
    while (i < length) {
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        this.#at = chunk[length - 1] === CR ? At.Cr : At.Text;
        break;
      }
      i = lf + 1;
      if (lf === 0 || chunk[lf - 1] !== CR) continue;
      if (i === length) {
        this.#at = At.LineStart;
        break;
      }
      if (chunk[i] !== DOT) continue;
      // A line that starts with ".": what follows it decides.
      if (i + 1 === length) {
        parts.push(chunk.subarray(from, i));
        from = length;
        this.#at = At.Dot;
        break;
      }
      const next = chunk[i + 1];
      if (next === DOT) {
        parts.push(chunk.subarray(from, i));
        from = i + 1;
        i += 2;
        continue;
      }
      if (next !== CR) {
        i += 1;
        continue;
      }
      if (i + 2 === length) {
        parts.push(chunk.subarray(from, i));
        from = length;
        this.#at = At.DotCr;
        break;
      }
      if (chunk[i + 2] === LF) return this.#end(parts, chunk, from, i + 3, i);
      i += 2;
    }
    if (from < length) parts.push(from === 0 ? chunk : chunk.subarray(from));
    return { bytes: joined(parts), consumed: length, ended: false };
  }

  /** The terminator ends at `consumed`; message bytes run from `from` to `upTo`. */
  #end(parts: Buffer[], chunk: Buffer, from: number, consumed: number, upTo = from): DotRead {
    if (upTo > from) parts.push(chunk.subarray(from, upTo));
    this.#at = At.LineStart;
    return { bytes: joined(parts), consumed, ended: true };
  }
}

function joined(parts: Buffer[]): Buffer {
  if (parts.length === 0) return NOTHING;
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
