/**
 * One ManageSieve command, framed and tokenised from the bytes received so far: no socket, no
 * state. RFC 5804 §4: a command is an atom, then strings (quoted, or literals `{n}` / `{n+}`
 * followed by CRLF and n octets) separated by single spaces, ended by CRLF (a bare LF is taken
 * too). Every size is bounded, so a hostile client costs no more than the limits say.
 */

export type Token =
  | { readonly kind: 'atom'; readonly text: string }
  | { readonly kind: 'string'; readonly bytes: Buffer };

export interface ScanLimits {
  /** Longest line (the bytes of the command outside its literals), CRLF not counted. */
  readonly lineBytes: number;
  /** Largest literal; a larger one ends the connection without being read. */
  readonly literalBytes: number;
}

export type ScanResult =
  /**
   * Scanning again is worth it once the buffer holds `need` bytes and, with `lineFrom`, a line
   * ending at or after it; holding more than `max` bytes without that is fatal.
   */
  | {
      readonly kind: 'incomplete';
      readonly need: number;
      readonly lineFrom: number | undefined;
      readonly max: number;
    }
  | { readonly kind: 'command'; readonly tokens: readonly Token[]; readonly consumed: number }
  /** A whole line that is not a command: answer NO, go on after `consumed`. */
  | { readonly kind: 'invalid'; readonly reason: string; readonly consumed: number }
  /** Nothing after this can be framed (a line or a literal beyond its limit): hang up. */
  | { readonly kind: 'fatal'; readonly reason: string };

/** RFC 5804 §4: `quoted = DQUOTE *1024QUOTED-CHAR DQUOTE`. */
export const MAX_QUOTED_BYTES = 1024;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LITERAL = /^\{(\d{1,10})(\+?)\}\r?\n/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function scanCommand(buffer: Buffer, limits: ScanLimits): ScanResult {
  const tokens: Token[] = [];
  // Line bytes count from the command's start and again after each literal.
  let segment = 0;
  let pos = 0;
  const invalid = (reason: string): ScanResult => {
    const end = buffer.indexOf(LF, pos);
    if (end === -1) return waitForLine(buffer, segment, limits);
    if (end - segment > limits.lineBytes + 1) return { kind: 'fatal', reason: 'line too long' };
    return { kind: 'invalid', reason, consumed: end + 1 };
  };
  for (;;) {
    if (pos - segment > limits.lineBytes) return { kind: 'fatal', reason: 'line too long' };
    if (pos >= buffer.length) return waitForLine(buffer, segment, limits);
    const byte = buffer[pos] as number;
    if (byte === LF || byte === CR) {
      if (byte === CR && pos + 1 >= buffer.length) return waitForLine(buffer, segment, limits);
      if (byte === CR && buffer[pos + 1] !== LF) return invalid('CR without LF');
      if (tokens.length === 0) return invalid('empty command');
      return { kind: 'command', tokens, consumed: pos + (byte === CR ? 2 : 1) };
    }
    if (tokens.length > 0) {
      if (byte !== SP) return invalid('tokens must be separated by one space');
      pos += 1;
      if (pos >= buffer.length) return waitForLine(buffer, segment, limits);
    }
    const start = buffer[pos] as number;
    if (start === DQUOTE) {
      const quoted = scanQuoted(buffer, pos);
      if (quoted.kind === 'incomplete') return waitForLine(buffer, segment, limits);
      if (quoted.kind === 'invalid') return invalid(quoted.reason);
      tokens.push({ kind: 'string', bytes: quoted.bytes });
      pos = quoted.end;
    } else if (start === 0x7b) {
      const header = LITERAL.exec(buffer.subarray(pos, pos + 16).toString('latin1'));
      if (!header) {
        // `{` and its count may still be arriving; a complete line with a bad one is invalid.
        if (buffer.indexOf(LF, pos) === -1) return waitForLine(buffer, segment, limits);
        return invalid('malformed literal');
      }
      const size = Number(header[1]);
      if (size > limits.literalBytes) return { kind: 'fatal', reason: 'literal too large' };
      const dataStart = pos + header[0].length;
      if (buffer.length < dataStart + size) {
        const need = dataStart + size;
        return { kind: 'incomplete', need, lineFrom: undefined, max: need };
      }
      tokens.push({ kind: 'string', bytes: buffer.subarray(dataStart, dataStart + size) });
      pos = dataStart + size;
      segment = pos;
    } else {
      const end = atomEnd(buffer, pos);
      if (end === pos) return invalid('unexpected character');
      tokens.push({ kind: 'atom', text: buffer.subarray(pos, end).toString('latin1') });
      pos = end;
    }
  }
}

/** A line ending may come with the next bytes; past the limit, none can come in time. */
function waitForLine(buffer: Buffer, segment: number, limits: ScanLimits): ScanResult {
  // Room for the longest line and its CR.
  if (buffer.length - segment > limits.lineBytes + 1) {
    return { kind: 'fatal', reason: 'line too long' };
  }
  return {
    kind: 'incomplete',
    need: buffer.length + 1,
    lineFrom: buffer.length,
    max: segment + limits.lineBytes + 1,
  };
}

type Quoted =
  | { readonly kind: 'string'; readonly bytes: Buffer; readonly end: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * RFC 5804 §4: QUOTED-CHAR is SAFE-UTF8-CHAR (no NUL, CR or LF) or `\` before `"` or `\`;
 * the text must be UTF-8.
 */
function scanQuoted(buffer: Buffer, open: number): Quoted {
  const out: number[] = [];
  for (let pos = open + 1; pos < buffer.length; pos += 1) {
    const byte = buffer[pos] as number;
    if (byte === DQUOTE) {
      const bytes = Buffer.from(out);
      try {
        utf8.decode(bytes);
      } catch {
        return { kind: 'invalid', reason: 'quoted string is not UTF-8' };
      }
      return { kind: 'string', bytes, end: pos + 1 };
    }
    if (byte === 0 || byte === CR || byte === LF) {
      return { kind: 'invalid', reason: 'NUL, CR or LF in a quoted string' };
    }
    if (byte === BACKSLASH) {
      pos += 1;
      if (pos >= buffer.length) return { kind: 'incomplete' };
      const next = buffer[pos] as number;
      if (next !== DQUOTE && next !== BACKSLASH) {
        return { kind: 'invalid', reason: 'only \\" and \\\\ may be escaped' };
      }
      out.push(next);
    } else out.push(byte);
    if (out.length > MAX_QUOTED_BYTES) return { kind: 'invalid', reason: 'quoted string too long' };
  }
  return { kind: 'incomplete' };
}

/** Atoms (command names) are printable ASCII other than space, `"`, `{`, `(` and `)`. */
function atomEnd(buffer: Buffer, start: number): number {
  let pos = start;
  for (; pos < buffer.length; pos += 1) {
    const byte = buffer[pos] as number;
    if (byte <= SP || byte >= 0x7f || byte === DQUOTE || byte === 0x7b) break;
    if (byte === 0x28 || byte === 0x29) break;
  }
  return pos;
}
