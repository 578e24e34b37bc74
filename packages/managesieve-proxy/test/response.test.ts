import { describe, expect, it } from 'vitest';
import { parseSieveLine } from '../src/response.js';

const parse = (line: string) => parseSieveLine(Buffer.from(line, 'utf8'));

describe('parseSieveLine', () => {
  it.each([
    ['a capability with a value', '"SIEVE" "fileinto vacation"', 'SIEVE', 'fileinto vacation'],
    ['a capability without one', '"STARTTLS"', 'STARTTLS', undefined],
    ['a lower-case name', '"xclient"', 'XCLIENT', undefined],
    ['escapes', '"IMPLEMENTATION" "a \\"b\\""', 'IMPLEMENTATION', 'a "b"'],
  ])('%s', (_name, line, name, value) => {
    expect(parse(line)).toEqual({ kind: 'capability', name, value });
  });

  it.each([
    ['a bare OK', 'OK', 'OK', undefined, ''],
    ['OK with text', 'OK "Logged in."', 'OK', undefined, 'Logged in.'],
    ['NO without a code', 'NO "Authentication failed."', 'NO', undefined, 'Authentication failed.'],
    ['NO (TRYLATER)', 'NO (TRYLATER) "Busy."', 'NO', 'TRYLATER', 'Busy.'],
    ['a code with arguments', 'OK (SASL "dGVzdA==")', 'OK', 'SASL', ''],
    ['a hierarchical code', 'NO (QUOTA/MAXSIZE) "Too big."', 'NO', 'QUOTA/MAXSIZE', 'Too big.'],
    ['BYE, lower case', 'bye "Going away."', 'BYE', undefined, 'Going away.'],
  ])('%s', (_name, line, status, code, text) => {
    expect(parse(line)).toMatchObject({ kind: 'response', status, code, text });
  });

  it.each([
    ['an empty line', ''],
    ['a literal', 'NO {12}'],
    ['an unterminated quote', '"SIEVE'],
    ['garbage', '+OK POP3 ready'],
    ['an OK glued to text', 'OKAY'],
  ])('refuses %s', (_name, line) => {
    expect(parse(line)).toBeUndefined();
  });
});
