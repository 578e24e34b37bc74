import { describe, expect, it } from 'vitest';
import { parseCommand, parseSaslAnswer, quoted } from '../src/command.js';
import type { Token } from '../src/scan.js';

const atom = (text: string): Token => ({ kind: 'atom', text });
const str = (text: string | Buffer): Token => ({
  kind: 'string',
  bytes: typeof text === 'string' ? Buffer.from(text, 'utf8') : text,
});

describe('parseCommand', () => {
  it.each([
    ['a bare verb, upper-cased', [atom('capability')], { verb: 'CAPABILITY', args: [] }],
    [
      'string arguments',
      [atom('Authenticate'), str('PLAIN'), str('AGEAYg==')],
      { verb: 'AUTHENTICATE', args: ['PLAIN', 'AGEAYg=='] },
    ],
  ])('%s', (_name, tokens, expected) => {
    expect(parseCommand(tokens)).toEqual({ kind: 'command', ...expected });
  });

  it.each([
    ['a string first', [str('NOOP')], 'a command starts with its name'],
    ['a verb with digits', [atom('NO0P')], 'a command starts with its name'],
    ['an atom argument', [atom('NOOP'), atom('x')], 'arguments must be strings'],
    [
      'NUL in a literal',
      [atom('NOOP'), str(Buffer.from([0x61, 0, 0x62]))],
      'arguments must be UTF-8',
    ],
    ['non-UTF-8 in a literal', [atom('NOOP'), str(Buffer.from([0xff]))], 'arguments must be UTF-8'],
  ])('refuses %s', (_name, tokens, reason) => {
    expect(parseCommand(tokens)).toEqual({ kind: 'invalid', reason });
  });
});

describe('parseSaslAnswer', () => {
  it.each([
    ['one string', [str('AGEAYg==')], 'AGEAYg=='],
    ['the cancel string', [str('*')], '*'],
    ['an atom', [atom('AGEAYg==')], undefined],
    ['two strings', [str('a'), str('b')], undefined],
  ])('%s', (_name, tokens, expected) => {
    expect(parseSaslAnswer(tokens)).toBe(expected);
  });
});

describe('quoted', () => {
  it.each([
    ['plain text', 'Logout completed.', '"Logout completed."'],
    ['quotes and backslashes', 'a"b\\c', '"a\\"b\\\\c"'],
    ['line breaks dropped', 'a\r\nb', '"ab"'],
  ])('%s', (_name, text, expected) => {
    expect(quoted(text)).toBe(expected);
  });
});
