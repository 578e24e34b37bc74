import { describe, expect, it } from 'vitest';
import {
  type PasswordScheme,
  PasswordSchemeError,
  schemeOf,
  verifyPasswordHash,
} from '../src/password-hash.js';

const password = 'pässwörd 1';

/** Written by `doveadm pw -s SCHEME -p 'pässwörd 1'`: hashes from the system that makes them. */
const dovecot: Record<string, string> = {
  'SHA512-CRYPT':
    '{SHA512-CRYPT}$6$1SWV.KgRcU8ptd8n$EIzWjZ1wa6xc37IZW2ftye0S9REpQY6c/g5nKRTmZZH0sdUBRZoGUrQlG/M7YLurpaWNrUXUcyRa35f0GygtX.',
  'SHA256-CRYPT': '{SHA256-CRYPT}$5$SXAUPBDwkUzE7o7p$xh1W.RbvJKsBwVC5hiazAKyCkHa5j7xvojf58LQaxI1',
  'BLF-CRYPT': '{BLF-CRYPT}$2y$05$yNMmCq1BeU/pJNbI0zaSCevVNzub5.XYglH7X08mohiv.lqD4SXWq',
  ARGON2ID:
    '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$KKX9D6hqIu9dX0tufGejrQ$7WnBVhGsh0ve5Rd+ZAbdZlfqXt6/HKo0QzNGp0jp+VA',
  ARGON2I:
    '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$41mYJt44M8XrUz71oQFKMQ$fZEsi5kXpO58cu/T/jeHvqM0P+Q3cG+d5D7CWyRQtqQ',
  SSHA512:
    '{SSHA512}VkyCTiJiGHjoslu2aO61wqGa8Ut66dc5CQaqWroFabiU64oRRWJD9BdnD47YKYWvZQsgZhujSF2Q7+JzkYJ6yE1h0xk=',
  SSHA256: '{SSHA256}8cTpjS5jsLO/bagHuC0qq+vfJ3/J0XSJ1IPu7qOpLBaxDqdX',
  SSHA: '{SSHA}0CF+QHfySGkM7Pad0iB9gEFdiBwxJrz0',
  SHA512:
    '{SHA512}MGrCWX/OaIyw5xBZ0RrM2vwe1YHoo2MD/NKt2+vkfLiudEOMnHxXTsVXCSooO5eehIdUJFylnTmr3TTyK23wMw==',
  SHA256: '{SHA256}UODX5JZHe18JVwv9yvMbAoeS719Y7fwn28vMuM/OHRU=',
  PLAIN: `{PLAIN}${password}`,
};

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
