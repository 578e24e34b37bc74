import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { Daemon, startOnFreePorts } from './process.js';
import {
  chownTo,
  copyKeyPair,
  serviceUser,
  sqlDatabase,
  sqlPassword,
  sqlUser,
} from './sql-server.js';
import { ensureDebianPackages } from './system.js';
import { tempDir } from './tmp.js';

/**
 * A real MariaDB on a free loopback port, its data in a temp dir. `homing` may read the `mail`
 * database; tests fill it as root through `exec`.
 */
export class MariaDb {
  readonly #daemon: Daemon;
  readonly #dir: { path: string; remove(): void };
  readonly #socket: string;

  private constructor(
    readonly port: number,
    dir: { path: string; remove(): void },
    tls: boolean,
  ) {
    this.#dir = dir;
    this.#socket = join(dir.path, 'mariadb.sock');
    const user = serviceUser('mysql');
    this.#daemon = new Daemon(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${join(dir.path, 'data')}`,
        `--socket=${this.#socket}`,
        `--pid-file=${join(dir.path, 'mariadb.pid')}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M',
        ...(user ? ['--user=mysql'] : []),
        ...(tls
          ? [
              `--ssl-cert=${join(dir.path, 'server.crt')}`,
              `--ssl-key=${join(dir.path, 'server.key')}`,
            ]
          : []),
      ],
      join(dir.path, 'mariadb.log'),
      dir.path,
    );
  }

  /** With `tls`, the server offers TLS with this certificate (clients may still go without). */
  static async start(options: { tls?: { cert: string; key: string } } = {}): Promise<MariaDb> {
    ensureDebianPackages({
      mariadbd: 'mariadb-server',
      'mariadb-install-db': 'mariadb-server',
      mariadb: 'mariadb-client',
    });
    const user = serviceUser('mysql');
    const dir = tempDir('mariadb');
    chmodSync(dir.path, 0o755);
    chownTo(dir.path, user);
    execFileSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(dir.path, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...(user ? ['--user=mysql'] : []),
      ],
      { cwd: dir.path, stdio: 'pipe' },
    );
    if (options.tls) copyKeyPair(options.tls, dir.path, user);
    const server = await startOnFreePorts(
      async () => new MariaDb(await freePort(), dir, options.tls !== undefined),
    );
    server.#client('', [
      `CREATE DATABASE ${sqlDatabase};`,
      `CREATE USER '${sqlUser}'@'127.0.0.1' IDENTIFIED BY '${sqlPassword}';`,
      `GRANT SELECT ON ${sqlDatabase}.* TO '${sqlUser}'@'127.0.0.1';`,
    ]);
    return server;
  }

  /** `mysql://homing:…@127.0.0.1:port/mail`, with `options` as URL query (`ssl=true`). */
  url(options = ''): string {
    const query = options === '' ? '' : `?${options}`;
    return `mysql://${sqlUser}:${sqlPassword}@127.0.0.1:${this.port}/${sqlDatabase}${query}`;
  }

  /** Runs SQL as root in the `mail` database. */
  exec(sql: string): void {
    this.#client(sqlDatabase, [sql]);
  }

  /** Ends every session of `homing` at the server, as a restart or a firewall would. */
  dropConnections(): void {
    const ids = this.#client('', [
      `SELECT id FROM information_schema.processlist WHERE user = '${sqlUser}';`,
    ]);
    const kills = ids
      .split('\n')
      .filter((line) => /^\d+$/.test(line.trim()))
      .map((id) => `KILL ${id.trim()};`);
    if (kills.length > 0) this.#client('', kills);
  }

  /** Starts (again) on the same port with the same data. */
  async resume(): Promise<void> {
    this.#daemon.start();
    await waitForPort(this.port, 30_000);
    for (let i = 0; ; i += 1) {
      try {
        this.#client('', ['SELECT 1;']);
        return;
      } catch (error) {
        if (i > 100 || !this.#daemon.running) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  stop(): Promise<void> {
    return this.#daemon.stop(15_000);
  }

  async destroy(): Promise<void> {
    await this.#daemon.kill();
    this.#dir.remove();
  }

  /** Runs statements as root; returns what they print, one row a line, no headers. */
  #client(database: string, statements: readonly string[]): string {
    const args = ['--no-defaults', `--socket=${this.#socket}`, '-u', 'root', '-N', '-B'];
    return execFileSync('mariadb', database === '' ? args : [...args, database], {
      input: statements.join('\n'),
      stdio: ['pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  }
}
