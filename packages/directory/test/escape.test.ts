import { describe, expect, it } from 'vitest';
import { escapeFilterValue, filterPlaceholders, renderFilter } from '../src/escape.js';

describe('escapeFilterValue (RFC 4515 §3)', () => {
  it.each([
    ['alice', 'alice'],
    ['*', '\\2a'],
    [')(uid=*', '\\29\\28uid=\\2a'],
    ['\\', '\\5c'],
    ['a\u0000b', 'a\\00b'],
    ['x)(|(objectClass=*)', 'x\\29\\28|\\28objectClass=\\2a\\29'],
    ['\r\n', '\\0d\\0a'],
    ['\u007f', '\\7f'],
    ['jörg@exämple.com', 'jörg@exämple.com'],
    ['\\2a', '\\5c2a'],
  ])('%j → %j', (input, expected) => {
    expect(escapeFilterValue(input)).toBe(expected);
  });

  it('leaves no unescaped special character in any input', () => {
    const hostile = '*()\\\u0000'.repeat(50);
    const escaped = escapeFilterValue(hostile);
    expect(escaped.replace(/\\[0-9a-f]{2}/g, '')).toBe('');
  });
});

describe('renderFilter', () => {
  it('escapes every inserted value', () => {
    const filter = renderFilter('(|(uid={local})(mail={address}))', {
      local: '*',
      address: 'a)(b',
    });
    expect(filter).toBe('(|(uid=\\2a)(mail=a\\29\\28b))');
  });

  it('refuses a placeholder that has no value', () => {
    expect(() => renderFilter('(uid={nope})', { local: 'a' })).toThrow('{nope}');
  });

  it('lists the placeholders of a template', () => {
    expect(filterPlaceholders('(&(a={address})(b={domain}))')).toEqual(['address', 'domain']);
  });
});
