import { describe, expect, it } from 'vitest';
import { BackendExtensions, preauthCapabilities } from '../src/capabilities.js';

const dovecot = [
  '"IMPLEMENTATION" "Dovecot Pigeonhole"',
  '"SIEVE" "fileinto reject envelope vacation"',
  '"NOTIFY" "mailto"',
  '"SASL" "PLAIN LOGIN"',
];

describe('preauthCapabilities', () => {
  const known = new BackendExtensions(() => [{ backend: 'a', lines: dovecot }]);
  it.each([
    [
      'before TLS, plaintext refused',
      { canStartTls: true, loginAllowed: false, oauth: false },
      [
        '"IMPLEMENTATION" "homing"',
        '"SASL" ""',
        '"SIEVE" "envelope fileinto reject vacation"',
        '"NOTIFY" "mailto"',
        '"STARTTLS"',
        '"VERSION" "1.0"',
      ],
    ],
    [
      'under TLS, with OAuth',
      { canStartTls: false, loginAllowed: true, oauth: true },
      [
        '"IMPLEMENTATION" "homing"',
        '"SASL" "PLAIN XOAUTH2 OAUTHBEARER"',
        '"SIEVE" "envelope fileinto reject vacation"',
        '"NOTIFY" "mailto"',
        '"VERSION" "1.0"',
      ],
    ],
  ])('%s', (_name, ctx, expected) => {
    expect(preauthCapabilities({ ...ctx, extensions: known })).toEqual(expected);
  });

  it('says nothing of SIEVE while no backend has been heard', () => {
    const lines = preauthCapabilities({
      canStartTls: false,
      loginAllowed: true,
      oauth: false,
      extensions: new BackendExtensions(),
    });
    expect(lines.some((l) => l.startsWith('"SIEVE"'))).toBe(false);
  });
});

describe('BackendExtensions', () => {
  it('offers what every backend has, the latest login telling over the probe', () => {
    const extensions = new BackendExtensions(() => [
      { backend: 'A', lines: dovecot },
      { backend: 'b', lines: ['"SIEVE" "fileinto vacation body"'] },
      // A probe that met something else on a ManageSieve port: not counted.
      { backend: 'c', lines: ['"IMPLEMENTATION" "other"'] },
    ]);
    expect(extensions.sieve).toEqual(['fileinto', 'vacation']);
    expect(extensions.notify).toEqual([]);
    extensions.heard('a', new Map([['SIEVE', 'fileinto body vacation imap4flags']]));
    expect(extensions.sieve).toEqual(['body', 'fileinto', 'vacation']);
  });
});
