import { describe, expect, it } from 'vitest';
import { Pop3Reader, type ReadEvent } from '../src/reader.js';

function read(input: string | Buffer | (string | Buffer)[], max = 16): ReadEvent[] {
  const reader = new Pop3Reader(max);
  for (const chunk of Array.isArray(input) ? input : [input]) {
    reader.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  }
  const out: ReadEvent[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push(e);
  return out;
}

const lines = (events: ReadEvent[]) =>
  events.map((e) => (e.type === 'line' ? e.line.toString('latin1') : `<${e.type}>`));

describe('Pop3Reader', () => {
  it.each([
    ['CRLF', 'CAPA\r\n', ['CAPA']],
    ['bare LF', 'CAPA\n', ['CAPA']],
    ['empty line', '\r\n', ['']],
    ['pipelined', 'USER a\r\nPASS b\r\nQUIT\r\n', ['USER a', 'PASS b', 'QUIT']],
    ['no line end yet', 'USER al', []],
    ['CR alone does not end a line', 'CAPA\rQUIT\r\n', ['CAPA\rQUIT']],
    ['a line of exactly the limit', `${'x'.repeat(16)}\r\n`, ['x'.repeat(16)]],
    ['the limit and its CR, LF still to come', `${'x'.repeat(16)}\r`, []],
    ['NUL bytes stay in the line', 'US\u0000ER\r\n', ['US\u0000ER']],
  ])('%s', (_name, input, expected) => {
    expect(lines(read(input))).toEqual(expected);
  });

  it('joins a line split across chunks, byte by byte', () => {
    expect(lines(read([...'USER alice\r\nQUIT\r\n']))).toEqual(['USER alice', 'QUIT']);
  });

  it.each([
    ['a complete line over the limit', `${'x'.repeat(17)}\r\n`],
    ['an unfinished line over the limit', 'x'.repeat(18)],
    ['1 MB without a line end', Buffer.alloc(1 << 20, 0x41)],
    ['1 MB of NUL bytes', Buffer.alloc(1 << 20)],
  ])('refuses %s, once, and reads nothing after it', (_name, input) => {
    const reader = new Pop3Reader(16);
    reader.push(typeof input === 'string' ? Buffer.from(input) : input);
    expect(reader.next()).toEqual({ type: 'too-long' });
    reader.push(Buffer.from('CAPA\r\n'));
    expect(reader.next()).toBeUndefined();
  });

  it('answers the lines before an overlong one first', () => {
    expect(lines(read(`CAPA\r\n${'x'.repeat(40)}\r\nQUIT\r\n`))).toEqual(['CAPA', '<too-long>']);
  });

  it('hands back what was not read as lines', () => {
    const reader = new Pop3Reader(64);
    reader.push(Buffer.from('STLS\r\nUSER evil\r\nPA'));
    expect(reader.next()).toMatchObject({ type: 'line' });
    expect(reader.takeRest().toString()).toBe('USER evil\r\nPA');
    expect(reader.next()).toBeUndefined();
  });

  it('reads 10,000 pipelined commands one by one', () => {
    const events = read('NOOP\r\n'.repeat(10_000));
    expect(events).toHaveLength(10_000);
  });
});
