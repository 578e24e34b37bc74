import { describe, expect, it } from 'vitest';
import { Catalog, parseLiteral } from '../src/catalog.js';
import { DirectoryError } from '../src/errors.js';

const tls = { verify: true };
const catalog = new Catalog({
  backends: {
    'mbox-a': {
      host: '10.0.0.1',
      endpoints: { imap: { port: 143, tls: 'none', forward: 'id' } },
      tls,
    },
  },
  literalDefaults: {
    imap: { port: 143, tls: 'none', forward: 'none' },
    pop3: { port: 110, tls: 'none', forward: 'none' },
  },
  literalTls: tls,
  allowLiteral: true,
});

describe('Catalog.resolve', () => {
  it('finds a named backend, case-insensitively', () => {
    expect(catalog.resolve('MBOX-A')).toMatchObject({
      name: 'mbox-a',
      host: '10.0.0.1',
      literal: false,
    });
  });

  it('turns host:port into a literal backend with that port for every protocol', () => {
    const backend = catalog.resolve('mail7.example.com:1143');
    expect(backend).toMatchObject({ host: 'mail7.example.com', literal: true });
    expect(backend.endpoints.imap?.port).toBe(1143);
    expect(backend.endpoints.pop3?.port).toBe(1143);
  });

  it('uses the default ports for a bare literal host', () => {
    expect(catalog.resolve('mail7.example.com').endpoints.pop3?.port).toBe(110);
  });

  it.each(['', 'a b', 'host:0', 'host:70000', 'x;rm -rf', '[::1', 'mbox-a:x'])(
    'refuses %j',
    (home) => {
      expect(() => catalog.resolve(home)).toThrow(DirectoryError);
    },
  );

  it('refuses literals when they are not allowed', () => {
    const strict = new Catalog({
      backends: {},
      literalDefaults: {},
      literalTls: tls,
      allowLiteral: false,
    });
    expect(() => strict.resolve('10.0.0.9')).toThrow(/not a backend/);
  });
});

describe('parseLiteral', () => {
  it.each([
    ['10.0.0.1', { host: '10.0.0.1' }],
    ['10.0.0.1:143', { host: '10.0.0.1', port: 143 }],
    ['[::1]:143', { host: '::1', port: 143 }],
    ['[2001:db8::1]', { host: '2001:db8::1' }],
    ['2001:db8::1', { host: '2001:db8::1' }],
  ])('%j', (input, expected) => {
    expect(parseLiteral(input)).toEqual(expected);
  });
});
