import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Credentials the test servers give homing: a read-only user of the `mail` database. */
export const sqlUser = 'homing';
export const sqlPassword = 'homing-secret';
export const sqlDatabase = 'mail';

/**
 * The uid and gid of a system user when the tests run as root (database servers refuse to run
 * as root); undefined otherwise, and the server runs as whoever runs the tests.
 */
export function serviceUser(name: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export function chownTo(path: string, user: { uid: number; gid: number } | undefined): void {
  if (user) chownSync(path, user.uid, user.gid);
}

/** Debian installs each PostgreSQL major version under /usr/lib/postgresql/N/bin: the newest. */
export function postgresBin(program: string): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin/${program}`;
}

/** Copies a certificate and key to `server.crt`/`server.key` in `dir`, readable by the server only. */
export function copyKeyPair(
  pair: { cert: string; key: string },
  dir: string,
  user: { uid: number; gid: number } | undefined,
): void {
  for (const [from, name] of [
    [pair.cert, 'server.crt'],
    [pair.key, 'server.key'],
  ] as const) {
    const to = join(dir, name);
    copyFileSync(from, to);
    chmodSync(to, 0o600);
    chownTo(to, user);
  }
}
