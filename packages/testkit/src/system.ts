import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Makes sure the Debian packages that provide these programs are installed. A key is a program
 * name looked up in the usual bin directories, or an absolute path for files outside them (say
 * `/usr/lib/dovecot/imap`). As root it runs apt-get; otherwise it stops with a message that says
 * what to install.
 */
export function ensureDebianPackages(programs: Readonly<Record<string, string>>): void {
  const missing = Object.entries(programs).filter(([program]) => !hasProgram(program));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() !== 0 || !hasProgram('apt-get')) {
    throw new Error(
      `missing ${missing.map(([p]) => p).join(', ')}: install the Debian packages ${packages.join(' ')} ` +
        '(or run `npm run setup` as root)',
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'ignore', env });
}

export function hasProgram(program: string): boolean {
  if (program.startsWith('/')) return existsSync(program);
  const dirs = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')];
  return dirs.some((dir) => dir !== '' && existsSync(`${dir}/${program}`));
}
