import { describe, expect, it } from 'vitest';
import { hasControlCharacters, parseAuthArgument, parseCommand } from '../src/command.js';

const parse = (line: string | Buffer) =>
  parseCommand(typeof line === 'string' ? Buffer.from(line, 'utf8') : line);

describe('parseCommand', () => {
  it.each([
    ['CAPA', 'CAPA', undefined],
    ['capa', 'CAPA', undefined],
    ['StLs', 'STLS', undefined],
    ['USER alice@example.com', 'USER', 'alice@example.com'],
    ['PASS with spaces  and  more ', 'PASS', 'with spaces  and  more '],
    ['PASS ', 'PASS', ''],
    ['PASS pässwörd', 'PASS', 'pässwörd'],
    ['AUTH PLAIN AGFsaWNlAHB3', 'AUTH', 'PLAIN AGFsaWNlAHB3'],
    ['NOOP', 'NOOP', undefined],
    ['XCLIENT ADDR=1.2.3.4', 'XCLIENT', 'ADDR=1.2.3.4'],
  ])('%j', (line, verb, argument) => {
    expect(parse(line)).toEqual({ kind: 'command', verb, argument });
  });

  it.each([
    ['empty', ''],
    ['a leading space', ' USER alice'],
    ['digits in the keyword', 'US3R alice'],
    ['punctuation in the keyword', 'USER: alice'],
    ['a very long keyword', 'A'.repeat(17)],
    ['a NUL in the keyword', 'US\u0000ER alice'],
    ['a NUL in the argument', 'PASS se\u0000cret'],
    ['a bare CR', 'USER alice\rPASS x'],
    ['a tab', 'USER\talice'],
    ['an escape sequence', 'USER \u001b[31malice'],
    ['DEL', 'USER alice\u007f'],
    ['invalid UTF-8', Buffer.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xff, 0xfe])],
    ['an overlong UTF-8 encoding', Buffer.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xc0, 0xaf])],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
  ])('refuses %s', (_name, line) => {
    expect(parse(line)).toMatchObject({ kind: 'invalid' });
  });
});

describe('parseAuthArgument', () => {
  it.each([
    ['PLAIN', { mechanism: 'PLAIN', initial: undefined }],
    ['plain', { mechanism: 'PLAIN', initial: undefined }],
    ['PLAIN =', { mechanism: 'PLAIN', initial: '=' }],
    ['XOAUTH2 dXNlcj1h', { mechanism: 'XOAUTH2', initial: 'dXNlcj1h' }],
    ['SCRAM-SHA-256', { mechanism: 'SCRAM-SHA-256', initial: undefined }],
  ])('%j', (argument, expected) => {
    expect(parseAuthArgument(argument)).toEqual(expected);
  });

  it.each([
    ['no argument', undefined],
    ['empty', ''],
    ['two spaces', 'PLAIN  abc'],
    ['a trailing space', 'PLAIN '],
    ['three words', 'PLAIN abc def'],
    ['a mechanism name over 20 characters', 'A'.repeat(21)],
    ['a mechanism with punctuation', 'PL.AIN'],
  ])('refuses %s', (_name, argument) => {
    expect(parseAuthArgument(argument)).toBeUndefined();
  });
});

describe('hasControlCharacters', () => {
  it.each([
    ['alice@example.com', false],
    ['jörg@example.com', false],
    ['alice\r\nPASS x', true],
    ['\u0000', true],
    ['\u007f', true],
  ])('%j', (value, expected) => {
    expect(hasControlCharacters(value)).toBe(expected);
    expect(hasControlCharacters(Buffer.from(value, 'utf8'))).toBe(expected);
  });
});
