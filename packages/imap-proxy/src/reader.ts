/**
 * The pre-login IMAP command reader (RFC 9051 §2.2, §4.3; RFC 7888 literals): bytes in,
 * commands out, no socket. Literals `{n}` (synchronizing: the caller sends `+`) and `{n+}`
 * (non-synchronizing) are bounded before a byte of them is read.
 */

/** An argument: atom (string), quoted or literal string (Buffer), list, or NIL (null). */
export type Token = string | Buffer | null | Token[];

export interface ImapCommand {
  readonly type: 'command';
  readonly tag: string;
  /** Upper-cased command name. */
  readonly name: string;
  readonly args: Token[];
}

export type ReadEvent =
  | ImapCommand
  /** A synchronizing literal was announced within limits: answer `+` to get its bytes. */
  | { readonly type: 'continue' }
  /** The raw line asked for with `expectLine()` (a SASL response). */
  | { readonly type: 'line'; readonly line: Buffer }
  | {
      readonly type: 'error';
      readonly kind: 'too-long' | 'literal-too-big' | 'syntax';
      readonly tag: string | undefined;
      readonly message: string;
      /** The stream cannot be resynchronized: answer and close. */
      readonly fatal: boolean;
    };

export interface ReaderLimits {
  readonly lineBytes: number;
  readonly literalBytes: number;
  /**
   * Longest ID command line (RFC 2971 allows 30 pairs of 30 and 1024 octets, ~32 KB); absent
   * or smaller than `lineBytes`: ID has the common limit.
   */
  readonly idLineBytes?: number;
}

/**
 * `tag ID ` at the start of a line (a tag of 1 to 64 bytes, `ID` in any case): enough to give
 * the line the ID allowance. Read off the bytes, without making a string of them.
 */
function isIdStart(bytes: Buffer): boolean {
  const space = bytes.indexOf(0x20);
  if (space < 1 || space > 64) return false;
  return (
    (bytes[space + 1] === 0x49 || bytes[space + 1] === 0x69) &&
    (bytes[space + 2] === 0x44 || bytes[space + 2] === 0x64) &&
    bytes[space + 3] === 0x20
  );
}

type Piece = { readonly text: Buffer } | { readonly literal: Buffer };

const LITERAL_SPEC = /\{(\d{1,20})(\+?)\}$/;

export class ImapReader {
  #buffer: Buffer = Buffer.alloc(0);
  /**
   * Chunks not yet joined to `#buffer`: a line that comes a byte at a time is joined once it is
   * complete (or too long), not once per byte, which would copy it over and over.
   */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #partsEndLine = false;
  #pieces: Piece[] = [];
  #literalBytes = 0;
  #pendingLiteral: number | undefined;
  #expectLine = false;
  #failed = false;
  /** An ID line past its allowance is dropped to its end and refused; the tag answers it. */
  #skipping: { tag: string | undefined } | undefined;
  readonly #limits: ReaderLimits;

  constructor(limits: ReaderLimits) {
    this.#limits = limits;
  }

  push(chunk: Buffer): void {
    if (this.#buffer.length === 0 && this.#parts.length === 0) {
      this.#buffer = chunk;
      return;
    }
    this.#parts.push(chunk);
    this.#partsBytes += chunk.length;
    if (chunk.includes(0x0a)) this.#partsEndLine = true;
  }

  /** The next line is a SASL response, returned raw rather than parsed as a command. */
  expectLine(): void {
    this.#expectLine = true;
  }

  /** Bytes received but not yet framed: handed to the backend at the splice. */
  takeRest(): Buffer {
    this.#join();
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  next(): ReadEvent | undefined {
    if (this.#failed) return undefined;
    for (;;) {
      if (this.#parts.length > 0 && this.#mustJoin()) this.#join();
      if (this.#pendingLiteral !== undefined) {
        if (this.#buffer.length < this.#pendingLiteral) return undefined;
        this.#pieces.push({ literal: this.#buffer.subarray(0, this.#pendingLiteral) });
        this.#buffer = this.#buffer.subarray(this.#pendingLiteral);
        this.#pendingLiteral = undefined;
        continue;
      }
      const lf = this.#buffer.indexOf(0x0a);
      if (this.#skipping) {
        this.#buffer = lf === -1 ? Buffer.alloc(0) : this.#buffer.subarray(lf + 1);
        if (lf === -1) return undefined;
        const { tag } = this.#skipping;
        this.#skipping = undefined;
        return { type: 'error', kind: 'too-long', tag, message: 'ID too long', fatal: false };
      }
      const limit = this.#lineLimit();
      if ((lf === -1 && this.#buffer.length > limit) || lf > limit + 1) {
        // ID is a status line with no effect: one too large is refused, the session goes on.
        if (limit === this.#limits.lineBytes) return this.#fatal('too-long', 'line too long');
        this.#skipping = { tag: tagOf([{ text: this.#buffer.subarray(0, 72) }]) };
        continue;
      }
      if (lf === -1) return undefined;
      const line = this.#buffer.subarray(0, lf > 0 && this.#buffer[lf - 1] === 0x0d ? lf - 1 : lf);
      this.#buffer = this.#buffer.subarray(lf + 1);

      if (this.#expectLine) {
        this.#expectLine = false;
        return { type: 'line', line };
      }
      // Only a line that ends in `}` can announce a literal: others are not made a string.
      const spec =
        line[line.length - 1] === 0x7d ? LITERAL_SPEC.exec(line.toString('latin1')) : null;
      if (!spec) {
        this.#pieces.push({ text: line });
        return this.#complete();
      }
      const size = Number(spec[1]);
      const nonSync = spec[2] === '+';
      this.#pieces.push({ text: line.subarray(0, line.length - spec[0].length) });
      this.#literalBytes += size;
      if (this.#literalBytes > this.#limits.literalBytes) {
        const tag = tagOf(this.#pieces);
        // A synchronizing literal was not sent yet, so the stream stays in step; a
        // non-synchronizing one is already on its way and we will not read it.
        if (nonSync) return this.#fatal('literal-too-big', 'literal too big', tag);
        this.#reset();
        return {
          type: 'error',
          kind: 'literal-too-big',
          tag,
          message: 'literal too big',
          fatal: false,
        };
      }
      this.#pendingLiteral = size;
      if (!nonSync) return { type: 'continue' };
    }
  }

  #mustJoin(): boolean {
    const bytes = this.#buffer.length + this.#partsBytes;
    if (this.#pendingLiteral !== undefined) return bytes >= this.#pendingLiteral;
    return this.#partsEndLine || this.#skipping !== undefined || bytes > this.#lineLimit();
  }

  #join(): void {
    if (this.#parts.length === 0) return;
    this.#buffer = Buffer.concat([this.#buffer, ...this.#parts]);
    this.#parts = [];
    this.#partsBytes = 0;
    this.#partsEndLine = false;
  }

  #lineLimit(): number {
    const { lineBytes, idLineBytes = 0 } = this.#limits;
    if (idLineBytes <= lineBytes || this.#pieces.length > 0 || this.#expectLine) return lineBytes;
    return isIdStart(this.#buffer) ? idLineBytes : lineBytes;
  }

  #complete(): ReadEvent {
    const pieces = this.#pieces;
    this.#reset();
    try {
      return parseCommand(pieces);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { type: 'error', kind: 'syntax', tag: tagOf(pieces), message, fatal: false };
    }
  }

  #reset(): void {
    this.#pieces = [];
    this.#literalBytes = 0;
  }

  #fatal(kind: 'too-long' | 'literal-too-big', message: string, tag?: string): ReadEvent {
    this.#failed = true;
    this.#buffer = Buffer.alloc(0);
    this.#parts = [];
    this.#partsBytes = 0;
    return { type: 'error', kind, tag: tag ?? tagOf(this.#pieces), message, fatal: true };
  }
}

function tagOf(pieces: Piece[]): string | undefined {
  const first = pieces[0];
  if (!first || !('text' in first)) return undefined;
  const text = first.text.toString('latin1');
  const end = text.indexOf(' ');
  const tag = end === -1 ? text : text.slice(0, end);
  return isTag(tag) ? tag : undefined;
}

// ATOM-CHAR: any CHAR except atom-specials (RFC 9051 §9): ( ) { SP CTL % * " \ ]
const atomChars = new Uint8Array(256);
for (let byte = 0x21; byte < 0x7f; byte += 1) {
  if (!'(){%*"\\]'.includes(String.fromCharCode(byte))) atomChars[byte] = 1;
}

function isAtomChar(byte: number): boolean {
  return atomChars[byte] === 1;
}

function isTag(tag: string): boolean {
  if (tag.length === 0) return false;
  for (let i = 0; i < tag.length; i += 1) {
    const c = tag.charCodeAt(i);
    if (!(isAtomChar(c) || c === 0x5d) || c === 0x2b) return false; // astring-char minus "+"
  }
  return true;
}

/** Parses `tag SP name *(SP arg)` from text pieces and the literals between them. */
export function parseCommand(pieces: readonly Piece[]): ImapCommand {
  const tokens: Token[] = [];
  const stack: Token[][] = [tokens];
  const top = () => stack[stack.length - 1] as Token[];
  for (const piece of pieces) {
    if ('literal' in piece) {
      top().push(piece.literal);
      continue;
    }
    const text = piece.text;
    let i = 0;
    while (i < text.length) {
      const c = text[i] as number;
      if (c === 0x20) {
        i += 1;
      } else if (c === 0x28) {
        const list: Token[] = [];
        top().push(list);
        stack.push(list);
        i += 1;
      } else if (c === 0x29) {
        if (stack.length === 1) throw new Error('unbalanced )');
        stack.pop();
        i += 1;
      } else if (c === 0x22) {
        const [value, next] = readQuoted(text, i + 1);
        top().push(value);
        i = next;
      } else if (isAtomChar(c) || c === 0x5d || c === 0x25 || c === 0x2a) {
        let j = i;
        while (
          j < text.length &&
          (isAtomChar(text[j] as number) ||
            text[j] === 0x5d ||
            text[j] === 0x25 ||
            text[j] === 0x2a)
        )
          j += 1;
        const atom = text.subarray(i, j).toString('latin1');
        top().push(atom.length === 3 && atom.toUpperCase() === 'NIL' ? null : atom);
        i = j;
      } else {
        throw new Error(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`);
      }
    }
  }
  if (stack.length !== 1) throw new Error('unbalanced (');
  const [tag, name, ...args] = tokens;
  if (typeof tag !== 'string' || !isTag(tag)) throw new Error('missing or invalid tag');
  if (typeof name !== 'string') throw new Error('missing command');
  return { type: 'command', tag, name: name.toUpperCase(), args };
}

/** Reads a quoted string starting after its opening quote; returns the value and the next index. */
function readQuoted(text: Buffer, start: number): [Buffer, number] {
  // Most quoted strings have no escapes: their bytes as they are.
  const end = text.indexOf(0x22, start);
  if (end !== -1) {
    const plain = text.subarray(start, end);
    if (!plain.includes(0x5c) && !plain.includes(0x00)) return [plain, end + 1];
  }
  const out: number[] = [];
  for (let i = start; i < text.length; i += 1) {
    const c = text[i] as number;
    if (c === 0x22) return [Buffer.from(out), i + 1];
    if (c === 0x00) throw new Error('NUL in quoted string');
    if (c === 0x5c) {
      const escaped = text[i + 1];
      if (escaped !== 0x22 && escaped !== 0x5c) throw new Error('bad escape in quoted string');
      out.push(escaped);
      i += 1;
      continue;
    }
    out.push(c);
  }
  throw new Error('unterminated quoted string');
}

/** An astring argument as text (UTF-8), or undefined when the token is not a string. */
export function astring(token: Token | undefined): string | undefined {
  if (typeof token === 'string') return token;
  if (Buffer.isBuffer(token)) return token.toString('utf8');
  return undefined;
}
