import { createHash, timingSafeEqual } from 'node:crypto';

/** The schemes homing verifies: those Dovecot and PostfixAdmin write. */
export const passwordSchemes = [
  'SHA512-CRYPT',
  'SHA256-CRYPT',
  'BLF-CRYPT',
  'ARGON2ID',
  'ARGON2I',
  'SSHA512',
  'SSHA256',
  'SSHA',
  'SHA512',
  'SHA256',
  'PLAIN',
] as const;
export type PasswordScheme = (typeof passwordSchemes)[number];

export class PasswordSchemeError extends Error {
  override readonly name = 'PasswordSchemeError';
}

/** Salted and plain digests, stored as base64 of digest (+ salt), as Dovecot writes them. */
const digests: Partial<Record<PasswordScheme, { algorithm: string; salted: boolean }>> = {
  SSHA512: { algorithm: 'sha512', salted: true },
  SSHA256: { algorithm: 'sha256', salted: true },
  SSHA: { algorithm: 'sha1', salted: true },
  SHA512: { algorithm: 'sha512', salted: false },
  SHA256: { algorithm: 'sha256', salted: false },
};

/**
 * Which scheme a stored hash is in: its `{SCHEME}` prefix, else the crypt(3) prefix (`$6$`,
 * `$2y$`, `$argon2id$`…), else `fallback`. An unknown `{SCHEME}` is an error, never a guess.
 */
export function schemeOf(
  stored: string,
  fallback: PasswordScheme,
): { scheme: PasswordScheme; value: string } {
  const braced = /^\{([A-Za-z0-9.-]+)\}/.exec(stored);
  if (braced) {
    const name = (braced[1] as string).toUpperCase();
    const value = stored.slice(braced[0].length);
    if (name === 'CRYPT') return { scheme: cryptScheme(value) ?? fallback, value };
    if (!(passwordSchemes as readonly string[]).includes(name)) {
      throw new PasswordSchemeError(`unknown password scheme {${name}}`);
    }
    return { scheme: name as PasswordScheme, value };
  }
  return { scheme: cryptScheme(stored) ?? fallback, value: stored };
}

function cryptScheme(value: string): PasswordScheme | undefined {
  if (value.startsWith('$6$')) return 'SHA512-CRYPT';
  if (value.startsWith('$5$')) return 'SHA256-CRYPT';
  if (/^\$2[aby]\$/.test(value)) return 'BLF-CRYPT';
  if (value.startsWith('$argon2id$')) return 'ARGON2ID';
  if (value.startsWith('$argon2i$')) return 'ARGON2I';
  return undefined;
}

/**
 * Checks a password against a stored hash. Digests are compared in constant time; the crypt
 * schemes are checked by their libraries, which do the same. A malformed hash is a mismatch,
 * an unknown scheme a PasswordSchemeError.
 */
export async function verifyPasswordHash(
  password: string,
  stored: string,
  fallback: PasswordScheme,
): Promise<boolean> {
  const { scheme, value } = schemeOf(stored, fallback);
  if (value === '') return false;
  const digest = digests[scheme];
  if (digest) return verifyDigest(password, value, digest.algorithm, digest.salted);
  // The libraries load on first use: every `homing` command loads this package, few need them.
  switch (scheme) {
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT': {
      if (cryptScheme(value) !== scheme) return false;
      const { verify } = await import('unixcrypt');
      try {
        return verify(password, value);
      } catch {
        return false; // a hash of the wrong length or with a bad salt
      }
    }
    case 'BLF-CRYPT': {
      if (cryptScheme(value) !== scheme) return false;
      // bcrypt reads only the first 72 bytes; the $2y$ of PHP is the same algorithm as $2b$.
      const bcrypt = (await import('bcryptjs')).default;
      return bcrypt.compare(password, value.replace(/^\$2y\$/, '$2b$')).catch(() => false);
    }
    case 'ARGON2ID':
    case 'ARGON2I': {
      if (cryptScheme(value) !== scheme) return false;
      // Native and off the event loop: an Argon2 check takes a good part of a second of CPU.
      const argon2 = (await import('argon2')).default;
      return argon2.verify(value, password).catch(() => false);
    }
    case 'PLAIN':
      return equalDigests(sha256(password), sha256(value));
    default:
      throw new PasswordSchemeError(`no check for password scheme ${scheme}`);
  }
}

function verifyDigest(password: string, value: string, algorithm: string, salted: boolean) {
  const raw = Buffer.from(value, 'base64');
  const length = createHash(algorithm).digest().length;
  if (salted ? raw.length <= length : raw.length !== length) return false;
  const salt = raw.subarray(length);
  const expected = raw.subarray(0, length);
  const actual = createHash(algorithm).update(password, 'utf8').update(salt).digest();
  return equalDigests(actual, expected);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function equalDigests(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
