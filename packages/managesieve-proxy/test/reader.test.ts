import { describe, expect, it } from 'vitest';
import { type ReadEvent, SieveReader } from '../src/reader.js';

const limits = { lineBytes: 32, literalBytes: 64 };

function read(
  input: string | Buffer | (string | Buffer)[],
  lineBytes = limits.lineBytes,
): ReadEvent[] {
  const reader = new SieveReader({ ...limits, lineBytes });
  const out: ReadEvent[] = [];
  for (const chunk of Array.isArray(input) ? input : [input]) {
    reader.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    for (let e = reader.next(); e; e = reader.next()) out.push(e);
  }
  return out;
}

/** Each event as text: atoms bare, strings in brackets, the rest as <type: reason>. */
function show(events: ReadEvent[]): string[] {
  return events.map((e) =>
    e.type === 'command'
      ? e.tokens
          .map((t) => (t.kind === 'atom' ? t.text : `[${t.bytes.toString('utf8')}]`))
          .join(' ')
      : `<${e.type}: ${e.reason}>`,
  );
}

describe('SieveReader', () => {
  it.each([
    ['a bare command', 'CAPABILITY\r\n', ['CAPABILITY']],
    ['bare LF', 'NOOP\n', ['NOOP']],
    ['quoted strings', 'AUTHENTICATE "PLAIN" "AGEAYg=="\r\n', ['AUTHENTICATE [PLAIN] [AGEAYg==]']],
    ['escapes in a quoted string', 'NOOP "a\\"b\\\\c"\r\n', ['NOOP [a"b\\c]']],
    ['an empty quoted string', 'NOOP ""\r\n', ['NOOP []']],
    ['a non-synchronizing literal', 'NOOP {3+}\r\nabc\r\n', ['NOOP [abc]']],
    ['a synchronizing literal', 'NOOP {3}\r\nabc\r\n', ['NOOP [abc]']],
    ['a literal holding CRLF', 'NOOP {4+}\r\na\r\nb\r\n', ['NOOP [a\r\nb]']],
    ['an empty literal', 'NOOP {0+}\r\n\r\n', ['NOOP []']],
    ['a literal, then more arguments', 'A {1+}\r\nx "y"\r\n', ['A [x] [y]']],
    ['pipelined commands', 'NOOP\r\nCAPABILITY\r\nLOGOUT\r\n', ['NOOP', 'CAPABILITY', 'LOGOUT']],
    ['UTF-8 in a quoted string', Buffer.from('NOOP "Grüße"\r\n', 'utf8'), ['NOOP [Grüße]']],
    [
      'a literal of exactly the limit',
      `NOOP {64+}\r\n${'x'.repeat(64)}\r\n`,
      [`NOOP [${'x'.repeat(64)}]`],
    ],
    ['no line end yet', 'CAPABIL', []],
    ['a literal still arriving', 'NOOP {10+}\r\nabc', []],
  ])('%s', (_name, input, expected) => {
    expect(show(read(input))).toEqual(expected);
  });

  it.each([
    ['an empty line', '\r\n', '<invalid: empty command>'],
    ['an unterminated quote', 'NOOP "abc\r\n', '<invalid: NUL, CR or LF in a quoted string>'],
    [
      'NUL in a quoted string',
      'NOOP "a\u0000b"\r\n',
      '<invalid: NUL, CR or LF in a quoted string>',
    ],
    [
      'non-UTF-8 in a quoted string',
      'NOOP "\u00ff\u00fe"\r\n',
      '<invalid: quoted string is not UTF-8>',
    ],
    ['a bad escape', 'NOOP "\\n"\r\n', '<invalid: only \\" and \\\\ may be escaped>'],
    ['two spaces', 'NOOP  "a"\r\n', '<invalid: unexpected character>'],
    ['no space between tokens', 'NOOP"a"\r\n', '<invalid: tokens must be separated by one space>'],
    ['a literal without its CRLF', 'NOOP {3+}abc\r\n', '<invalid: malformed literal>'],
    ['a CR inside a line', 'NO\rOP\r\n', '<invalid: CR without LF>'],
    ['a parenthesis', 'NOOP (a)\r\n', '<invalid: unexpected character>'],
  ])('%s', (_name, input, expected) => {
    expect(show(read(input))[0]).toBe(expected);
  });

  it('refuses a quoted string over 1024 octets (RFC 5804 §4) within a longer line limit', () => {
    expect(show(read(`NOOP "${'x'.repeat(1025)}"\r\nNOOP\r\n`, 4096))).toEqual([
      '<invalid: quoted string too long>',
      'NOOP',
    ]);
  });

  it('goes on with the next command after an invalid one', () => {
    expect(show(read('NOOP "a\u0000"\r\nNOOP\r\n'))).toEqual([
      '<invalid: NUL, CR or LF in a quoted string>',
      'NOOP',
    ]);
  });

  it('frames commands split anywhere, byte by byte', () => {
    const input = 'AUTHENTICATE "PLAIN" {8+}\r\nAGEAYg==\r\nNOOP "x"\r\n';
    expect(show(read([...input]))).toEqual(['AUTHENTICATE [PLAIN] [AGEAYg==]', 'NOOP [x]']);
  });

  it.each([
    ['a literal over the limit', 'NOOP {65+}\r\n', 'literal too large'],
    ['a 10-digit literal', 'NOOP {9999999999+}\r\n', 'literal too large'],
    ['a complete line over the limit', `NOOP "${'x'.repeat(40)}"\r\n`, 'line too long'],
    ['1 MB without a line end', Buffer.alloc(1 << 20, 0x41), 'line too long'],
    ['1 MB of NUL bytes', Buffer.alloc(1 << 20), 'line too long'],
    ['an unterminated quote, 1 MB long', `NOOP "${'x'.repeat(1 << 20)}`, 'line too long'],
  ])('hangs up on %s', (_name, input, reason) => {
    const events = read(input);
    expect(events).toEqual([{ type: 'fatal', reason }]);
  });

  it.each([
    ['a huge literal, sent anyway', ['NOOP {65+}\r\n', Buffer.alloc(1 << 20, 0x78)]],
    ['a flood of long lines', Array.from({ length: 2000 }, () => `${'y'.repeat(1000)}`)],
    ['literal after literal', Array.from({ length: 2000 }, () => 'A {60+}\r\n'.padEnd(70, 'z'))],
    ['a byte at a time, no line end', Array.from({ length: 5000 }, () => 'q')],
  ])('holds no more than one command, whatever comes: %s', (_name, chunks) => {
    const reader = new SieveReader(limits);
    let most = 0;
    for (const chunk of chunks) {
      reader.push(Buffer.from(chunk));
      while (reader.next());
      most = Math.max(most, reader.buffered);
    }
    // One line, a literal, and the chunk that overran them, at most.
    expect(most).toBeLessThanOrEqual(limits.lineBytes + limits.literalBytes + 1000 + 16);
  });

  it('answers each of a flood of 10,000 short commands', () => {
    const flood = 'NOOP\r\n'.repeat(10_000);
    expect(read(flood)).toHaveLength(10_000);
  });

  it('gives the bytes after the last command to whoever takes them', () => {
    const reader = new SieveReader(limits);
    reader.push(Buffer.from('NOOP\r\nLISTSCRIPTS'));
    expect(reader.next()?.type).toBe('command');
    expect(reader.next()).toBeUndefined();
    expect(reader.takeRest().toString()).toBe('LISTSCRIPTS');
  });
});
