import { describe, expect, it } from 'vitest';
import { DotReader } from '../../src/server-side/dot-reader.js';

/** Feeds `wire` cut at `cuts`; returns the message, the bytes after it, and whether it ended. */
function read(wire: string, cuts: number[] = []) {
  const bytes = Buffer.from(wire, 'latin1');
  const reader = new DotReader();
  const message: Buffer[] = [];
  let start = 0;
  for (const end of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(start, end);
    start = end;
    const r = reader.push(chunk);
    message.push(r.bytes);
    if (r.ended) {
      return {
        message: Buffer.concat(message).toString('latin1'),
        rest: Buffer.concat([chunk.subarray(r.consumed), bytes.subarray(end)]).toString('latin1'),
        ended: true,
      };
    }
    expect(r.consumed).toBe(chunk.length);
  }
  return { message: Buffer.concat(message).toString('latin1'), rest: '', ended: false };
}

const cases: [string, string, string, boolean][] = [
  // wire, message, rest, ended
  ['.\r\n', '', '', true],
  ['a\r\n.\r\n', 'a\r\n', '', true],
  ['a\r\n.\r\nQUIT\r\n', 'a\r\n', 'QUIT\r\n', true],
  ['..a\r\n.\r\n', '.a\r\n', '', true],
  ['x\r\n..\r\n.\r\n', 'x\r\n.\r\n', '', true],
  ['x\r\n...\r\n.\r\n', 'x\r\n..\r\n', '', true],
  // A sender that forgot to stuff keeps its dot.
  ['x\r\n.leading\r\n.\r\n', 'x\r\n.leading\r\n', '', true],
  ['x\r\n.\rz\r\n.\r\n', 'x\r\n.\rz\r\n', '', true],
  // Only CRLF "." CRLF ends it (SMTP smuggling: bare LF or CR around the dot is text).
  ['a\n.\nb\r\n.\r\n', 'a\n.\nb\r\n', '', true],
  ['a\n.\r\nb\r\n.\r\n', 'a\n.\r\nb\r\n', '', true],
  ['a\r\n.\nb\r\n.\r\n', 'a\r\n.\nb\r\n', '', true],
  ['a\r.\r\nb\r\n.\r\n', 'a\r.\r\nb\r\n', '', true],
  ['a\r\n.\rb\r\n.\r\n', 'a\r\n.\rb\r\n', '', true],
  ['no end\r\n', 'no end\r\n', '', false],
  ['no end\r\n.', 'no end\r\n', '', false],
  ['a\u0000b\r\n.\r\n', 'a\u0000b\r\n', '', true],
];

describe('DotReader', () => {
  it.each(cases)('%j in one chunk', (wire, message, rest, ended) => {
    expect(read(wire)).toEqual({ message, rest, ended });
  });

  it.each(cases)('%j cut at every place, and byte by byte', (wire, message, rest, ended) => {
    for (let cut = 1; cut < wire.length; cut += 1) {
      expect(read(wire, [cut])).toEqual({ message, rest, ended });
    }
    const bytewise = Array.from({ length: wire.length - 1 }, (_, i) => i + 1);
    expect(read(wire, bytewise)).toEqual({ message, rest, ended });
  });

  it('a large message keeps its bytes and leaves unstuffed lines as views', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `${i % 5 === 0 ? '..' : ''}line ${i}`);
    const wire = `${lines.join('\r\n')}\r\n.\r\n`;
    const expected = `${lines.map((l) => l.replace(/^\.\./, '.')).join('\r\n')}\r\n`;
    expect(read(wire, [777, 4096, 4097, 20_000]).message).toBe(expected);
  });

  it('starts over after reset', () => {
    const reader = new DotReader();
    reader.push(Buffer.from('half a line'));
    reader.reset();
    expect(reader.push(Buffer.from('.\r\n'))).toMatchObject({ ended: true, consumed: 3 });
  });
});
