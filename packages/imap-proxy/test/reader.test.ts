import { describe, expect, it } from 'vitest';
import { ImapReader, type ReadEvent } from '../src/reader.js';

const limits = { lineBytes: 1024, literalBytes: 100 };

function frames(input: string | Buffer, l = limits): ReadEvent[] {
  const reader = new ImapReader(l);
  reader.push(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  const out: ReadEvent[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push(e);
  return out;
}

describe('ImapReader: commands', () => {
  it.each([
    ['a1 NOOP\r\n', 'a1', 'NOOP', []],
    ['a1 noop\r\n', 'a1', 'NOOP', []],
    ['a1 NOOP\n', 'a1', 'NOOP', []],
    ['a LOGIN alice secret\r\n', 'a', 'LOGIN', ['alice', 'secret']],
    [
      'a LOGIN "alice" "se cr\\"et\\\\"\r\n',
      'a',
      'LOGIN',
      [Buffer.from('alice'), Buffer.from('se cr"et\\')],
    ],
    ['a LOGIN "" x\r\n', 'a', 'LOGIN', [Buffer.alloc(0), 'x']],
    ['a ID NIL\r\n', 'a', 'ID', [null]],
    ['a X nil Nil NILS NI\r\n', 'a', 'X', [null, null, 'NILS', 'NI']],
    [
      'a ID ("name" "mutt" "version" NIL)\r\n',
      'a',
      'ID',
      [[Buffer.from('name'), Buffer.from('mutt'), Buffer.from('version'), null]],
    ],
    [
      'a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n',
      'a',
      'AUTHENTICATE',
      ['PLAIN', 'AGFsaWNlAHNlY3JldA=='],
    ],
    ['a.b-c]1 CAPABILITY\r\n', 'a.b-c]1', 'CAPABILITY', []],
  ])('%j', (input, tag, name, args) => {
    expect(frames(input)).toEqual([{ type: 'command', tag, name, args }]);
  });

  it('keeps UTF-8 in quoted strings byte for byte', () => {
    const [event] = frames(Buffer.from('a LOGIN "jörg" "pässwörd"\r\n', 'utf8'));
    expect(event).toMatchObject({ args: [Buffer.from('jörg'), Buffer.from('pässwörd')] });
  });

  it('frames pipelined commands one by one', () => {
    const events = frames('a NOOP\r\nb NOOP\r\nc CAPABILITY\r\n');
    expect(events.map((e) => (e.type === 'command' ? e.tag : e.type))).toEqual(['a', 'b', 'c']);
  });
});

describe('ImapReader: literals', () => {
  it('asks for a synchronizing literal and reads it', () => {
    const reader = new ImapReader(limits);
    reader.push(Buffer.from('a LOGIN {5}\r\n'));
    expect(reader.next()).toEqual({ type: 'continue' });
    expect(reader.next()).toBeUndefined();
    reader.push(Buffer.from('alice {3}\r\n'));
    expect(reader.next()).toEqual({ type: 'continue' });
    reader.push(Buffer.from('p\r\n\r\n'));
    expect(reader.next()).toEqual({
      type: 'command',
      tag: 'a',
      name: 'LOGIN',
      args: [Buffer.from('alice'), Buffer.from('p\r\n')],
    });
  });

  it('reads non-synchronizing literals without asking (LITERAL+)', () => {
    expect(frames('a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n')).toEqual([
      {
        type: 'command',
        tag: 'a',
        name: 'LOGIN',
        args: [Buffer.from('alice'), Buffer.from('secret')],
      },
    ]);
  });

  it('refuses a synchronizing literal that is too big and stays in step', () => {
    const events = frames('a LOGIN {4294967296}\r\nb NOOP\r\n');
    expect(events[0]).toMatchObject({
      type: 'error',
      kind: 'literal-too-big',
      tag: 'a',
      fatal: false,
    });
    expect(events[1]).toMatchObject({ type: 'command', tag: 'b', name: 'NOOP' });
  });

  it('refuses a non-synchronizing literal that is too big and stops', () => {
    const events = frames('a LOGIN {101+}\r\nxxxxxxxx');
    expect(events).toEqual([
      { type: 'error', kind: 'literal-too-big', tag: 'a', message: 'literal too big', fatal: true },
    ]);
  });

  it('counts every literal of a command against the limit', () => {
    const events = frames(`a LOGIN {60+}\r\n${'x'.repeat(60)} {60}\r\n`);
    expect(events[0]).toMatchObject({ kind: 'literal-too-big', fatal: false });
  });

  it('treats a 20-digit size as too big rather than overflowing', () => {
    expect(frames('a LOGIN {99999999999999999999}\r\n')[0]).toMatchObject({
      kind: 'literal-too-big',
    });
  });
});

describe('ImapReader: hostile input', () => {
  it('stops on a line longer than the limit, even without a line end', () => {
    const reader = new ImapReader(limits);
    reader.push(Buffer.alloc(1025, 0x41));
    expect(reader.next()).toMatchObject({ type: 'error', kind: 'too-long', fatal: true });
    reader.push(Buffer.from('\r\na NOOP\r\n'));
    expect(reader.next()).toBeUndefined();
  });

  describe('the ID allowance', () => {
    const idLimits = { lineBytes: 1024, literalBytes: 100, idLineBytes: 40_000 };
    const rfcMax = `a ID (${Array.from(
      { length: 30 },
      (_, i) => `"${`f${i}`.padEnd(30, 'x')}" "${'v'.repeat(1024)}"`,
    ).join(' ')})\r\n`;

    it('takes an ID as large as RFC 2971 allows (~32 KB), in one piece or byte by byte', () => {
      expect(rfcMax.length).toBeGreaterThan(31_000);
      const whole = new ImapReader(idLimits);
      whole.push(Buffer.from(rfcMax));
      const command = whole.next();
      expect(command).toMatchObject({ type: 'command', tag: 'a', name: 'ID' });
      expect((command as { args: unknown[][] }).args[0]).toHaveLength(60);
      const slow = new ImapReader(idLimits);
      let event: unknown;
      for (const byte of Buffer.from(rfcMax)) {
        slow.push(Buffer.from([byte]));
        event = slow.next() ?? event;
      }
      expect(event).toMatchObject({ type: 'command', name: 'ID' });
    });

    it.each([
      ['in one piece', 1],
      ['byte by byte', 1],
      ['in chunks of 4 KB', 4096],
    ])('refuses an ID beyond the allowance without closing, %s', (name, size) => {
      const reader = new ImapReader(idLimits);
      const input = Buffer.from(`i ID ("a" "${'v'.repeat(50_000)}")\r\nz NOOP\r\n`);
      const step = name === 'in one piece' ? input.length : size;
      const events: unknown[] = [];
      for (let at = 0; at < input.length; at += step) {
        reader.push(input.subarray(at, at + step));
        for (let e = reader.next(); e !== undefined; e = reader.next()) events.push(e);
      }
      expect(events).toEqual([
        { type: 'error', kind: 'too-long', tag: 'i', message: 'ID too long', fatal: false },
        expect.objectContaining({ type: 'command', tag: 'z', name: 'NOOP' }),
      ]);
    });

    it.each([
      ['another command of that size', `a LOGIN ${'x'.repeat(5000)}\r\n`],
      ['ID past the first line of a command', `a LOGIN {3}\r\nabc ID ${'x'.repeat(5000)}\r\n`],
      ['a tag too long to be one', `${'t'.repeat(100)} ID ${'x'.repeat(5000)}\r\n`],
      ['ID without its space', `a ID${'x'.repeat(5000)}\r\n`],
    ])('refuses %s', (_name, input) => {
      const reader = new ImapReader(idLimits);
      reader.push(Buffer.from(input));
      const events: unknown[] = [];
      for (let e = reader.next(); e !== undefined; e = reader.next()) events.push(e);
      expect(events.at(-1)).toMatchObject({ type: 'error', kind: 'too-long' });
    });

    it.each([
      ['in lower case', `a id ("a" "${'v'.repeat(5000)}")\r\n`],
      ['with a tag of 64 bytes', `${'t'.repeat(64)} Id ("a" "${'v'.repeat(5000)}")\r\n`],
    ])('gives an ID the allowance %s', (_name, input) => {
      const reader = new ImapReader(idLimits);
      reader.push(Buffer.from(input));
      expect(reader.next()).toMatchObject({ type: 'command', name: 'ID' });
    });

    it('is off when not larger than the line limit', () => {
      const reader = new ImapReader({ ...idLimits, idLineBytes: 10 });
      reader.push(Buffer.from(rfcMax));
      expect(reader.next()).toMatchObject({ type: 'error', kind: 'too-long' });
    });
  });

  it('stops on a complete line that is too long', () => {
    expect(frames(`a NOOP ${'x'.repeat(2000)}\r\n`)[0]).toMatchObject({
      kind: 'too-long',
      tag: undefined,
    });
  });

  it.each([
    ['NUL in an atom', 'a LOGIN al\u0000ice x\r\n', 'a'],
    ['NUL in a quoted string', 'a LOGIN "al\u0000ice" x\r\n', 'a'],
    ['unbalanced quote', 'a LOGIN "alice x\r\n', 'a'],
    ['unbalanced (', 'a ID ("a" "b"\r\n', 'a'],
    ['unbalanced )', 'a ID "a")\r\n', 'a'],
    ['bad escape', 'a LOGIN "a\\b" x\r\n', 'a'],
    ['8-bit atom', 'a LOGIN j\u00f6rg x\r\n', 'a'],
    ['no command', 'a\r\n', 'a'],
    ['tag with +', '+a NOOP\r\n', undefined],
    ['empty line', '\r\n', undefined],
    ['only spaces', '   \r\n', undefined],
    ['tag with *', '* NOOP\r\n', undefined],
  ])('answers %s with a syntax error and goes on', (_name, input, tag) => {
    const events = frames(`${input}z NOOP\r\n`);
    expect(events[0]).toMatchObject({ type: 'error', kind: 'syntax', tag, fatal: false });
    expect(events[1]).toMatchObject({ type: 'command', tag: 'z', name: 'NOOP' });
  });

  it('frames 10,000 pipelined NOOPs without trouble', () => {
    expect(frames('a NOOP\r\n'.repeat(10_000))).toHaveLength(10_000);
  });

  it('returns a raw line when asked (SASL response)', () => {
    const reader = new ImapReader(limits);
    reader.expectLine();
    reader.push(Buffer.from('AGFsaWNl\r\nb NOOP\r\n'));
    expect(reader.next()).toEqual({ type: 'line', line: Buffer.from('AGFsaWNl') });
    expect(reader.next()).toMatchObject({ type: 'command', tag: 'b' });
  });

  it('hands back unframed bytes', () => {
    const reader = new ImapReader(limits);
    reader.push(Buffer.from('a NOOP\r\nb SEL'));
    reader.next();
    expect(reader.takeRest().toString()).toBe('b SEL');
  });
});
