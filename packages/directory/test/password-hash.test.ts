import { describe, expect, it } from 'vitest';
import {
  type PasswordScheme,
  PasswordSchemeError,
  schemeOf,
  verifyPasswordHash,
} from '../src/password-hash.js';

import { dovecot, password } from './hashes.js';

describe('verifyPasswordHash', () => {
  it.each(Object.entries(dovecot))('%s: the right password matches', async (_scheme, stored) => {
    expect(await verifyPasswordHash(password, stored, 'PLAIN')).toBe(true);
  });

  it.each(Object.entries(dovecot))('%s: a wrong password does not', async (_scheme, stored) => {
    expect(await verifyPasswordHash('pässwörd 2', stored, 'PLAIN')).toBe(false);
    expect(await verifyPasswordHash('', stored, 'PLAIN')).toBe(false);
  });

  it('takes crypt(3) hashes without a {SCHEME} prefix, as PostfixAdmin stores them', async () => {
    for (const scheme of ['SHA512-CRYPT', 'BLF-CRYPT', 'ARGON2ID'] as const) {
      const bare = (dovecot[scheme] as string).replace(/^\{[^}]+\}/, '');
      expect(await verifyPasswordHash(password, bare, 'PLAIN')).toBe(true);
      expect(await verifyPasswordHash(password, `{CRYPT}${bare}`, 'PLAIN')).toBe(true);
    }
  });

  it('uses the fallback scheme for a hash with no prefix at all', async () => {
    const bare = (dovecot.SSHA512 as string).replace('{SSHA512}', '');
    expect(await verifyPasswordHash(password, bare, 'SSHA512')).toBe(true);
    expect(await verifyPasswordHash(password, bare, 'SHA512-CRYPT')).toBe(false);
  });

  const malformed: [string, string][] = [
    ['empty after the scheme', '{SHA512-CRYPT}'],
    ['truncated sha-crypt', '{SHA512-CRYPT}$6$1SWV.KgRcU8ptd8n$EIzW'],
    [
      'sha-crypt under the wrong scheme',
      `{BLF-CRYPT}${(dovecot['SHA512-CRYPT'] as string).slice(14)}`,
    ],
    ['truncated bcrypt', '{BLF-CRYPT}$2y$05$yNMmCq1BeU'],
    ['bad argon2 parameters', '{ARGON2ID}$argon2id$v=19$m=x,t=3,p=1$KKX9$7WnB'],
    [
      'salted digest without salt',
      '{SSHA512}MGrCWX/OaIyw5xBZ0RrM2vwe1YHoo2MD/NKt2+vkfLiudEOMnHxXTsVXCSooO5eehIdUJFylnTmr3TTyK23wMw==',
    ],
    ['digest of the wrong length', '{SHA512}UODX5JZHe18JVwv9yvMbAoeS719Y7fwn28vMuM/OHRU='],
    ['not base64', '{SSHA256}!!!!'],
  ];
  it.each(malformed)('%s is a mismatch, not a crash', async (_name, stored) => {
    expect(await verifyPasswordHash(password, stored, 'PLAIN')).toBe(false);
  });

  it('leaves the event loop free during an Argon2 check', async () => {
    let ticks = 0;
    const timer = setInterval(() => {
      ticks += 1;
    }, 5);
    try {
      expect(await verifyPasswordHash(password, dovecot.ARGON2ID as string, 'PLAIN')).toBe(true);
    } finally {
      clearInterval(timer);
    }
    // A check that blocked would let the timer fire once at most, after it.
    expect(ticks).toBeGreaterThan(3);
  });

  it('refuses an unknown {SCHEME} rather than guessing', async () => {
    await expect(verifyPasswordHash(password, '{MD5-CRYPT}$1$abc$def', 'PLAIN')).rejects.toThrow(
      PasswordSchemeError,
    );
  });
});

describe('schemeOf', () => {
  const cases: [string, PasswordScheme][] = [
    ['$6$salt$hash', 'SHA512-CRYPT'],
    ['$5$salt$hash', 'SHA256-CRYPT'],
    ['$2a$10$x', 'BLF-CRYPT'],
    ['$2b$10$x', 'BLF-CRYPT'],
    ['$argon2id$v=19$x', 'ARGON2ID'],
    ['{ssha512}abc', 'SSHA512'],
    ['{CRYPT}$6$x$y', 'SHA512-CRYPT'],
    ['plain-looking', 'SSHA256'],
  ];
  it.each(cases)('%s → %s', (stored, scheme) => {
    expect(schemeOf(stored, 'SSHA256').scheme).toBe(scheme);
  });
});
