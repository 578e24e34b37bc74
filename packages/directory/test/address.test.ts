import { describe, expect, it } from 'vitest';
import { type AddressRules, defaultAddressRules, normalizeAddress } from '../src/address.js';

const rules: AddressRules = {
  ...defaultAddressRules,
  defaultDomain: 'example.com',
  localPartFolding: 'lower',
  domainAliases: { 'example.net': 'example.com' },
};

describe('normalizeAddress', () => {
  it.each([
    ['alice@Example.COM', 'login', 'alice@example.com'],
    ['Alice@example.com', 'login', 'alice@example.com'],
    ['alice', 'login', 'alice@example.com'],
    ['alice@example.net', 'login', 'alice@example.com'],
    ['alice@example.com.', 'login', 'alice@example.com'],
    ['alice+news@example.com', 'recipient', 'alice@example.com'],
    ['alice+news@example.com', 'login', 'alice+news@example.com'],
    ['+news@example.com', 'recipient', '+news@example.com'],
    ['"a@b"@example.com', 'login', '"a@b"@example.com'],
  ] as const)('%j as %s → %j', (input, kind, key) => {
    expect(normalizeAddress(input, rules, kind)?.key).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['no local part', '@example.com'],
    ['no domain', 'alice@'],
    ['NUL', 'ali\u0000ce'],
    ['CR LF', 'alice\r\n@example.com'],
    ['DEL', 'alice\u007f'],
    ['too long', `${'a'.repeat(400)}@example.com`],
  ])('%s names no user', (_name, input) => {
    expect(normalizeAddress(input, rules, 'login')).toBeUndefined();
  });

  it('keeps the local part and a bare login when no folding or default domain is set', () => {
    expect(normalizeAddress('Alice', defaultAddressRules, 'login')).toEqual({
      key: 'Alice',
      local: 'Alice',
      domain: '',
    });
  });

  it('does not strip detail when the separator is empty', () => {
    const keep = { ...rules, detailSeparator: '' };
    expect(normalizeAddress('a+b@example.com', keep, 'recipient')?.key).toBe('a+b@example.com');
  });
});
