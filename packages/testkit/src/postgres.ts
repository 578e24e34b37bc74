import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { Daemon, startOnFreePorts } from './process.js';
import {
  chownTo,
  copyKeyPair,
  postgresBin,
  serviceUser,
  sqlDatabase,
  sqlPassword,
  sqlUser,
} from './sql-server.js';
import { ensureDebianPackages } from './system.js';
import { tempDir } from './tmp.js';

/**
 * A real PostgreSQL on a free loopback port, its cluster in a temp dir. The `mail` database is
 * owned by the superuser; `homing` may only read what a test grants it (`exec` grants SELECT on
 * every table it makes).
 */
export class Postgres {
  readonly #daemon: Daemon;
  readonly #dir: { path: string; remove(): void };
  readonly #user: { uid: number; gid: number } | undefined;

  private constructor(
    readonly port: number,
    dir: { path: string; remove(): void },
    user: { uid: number; gid: number } | undefined,
    tls: boolean,
  ) {
    this.#dir = dir;
    this.#user = user;
    const args = ['-D', join(dir.path, 'data'), '-p', String(port), '-k', this.#socketDir];
    args.push('-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off');
    if (tls) {
      args.push('-c', 'ssl=on', '-c', `ssl_cert_file=${join(dir.path, 'server.crt')}`);
      args.push('-c', `ssl_key_file=${join(dir.path, 'server.key')}`);
    }
    this.#daemon = new Daemon(
      postgresBin('postgres'),
      args,
      join(dir.path, 'postgres.log'),
      dir.path,
      user,
    );
  }

  /** With `tls`, the server offers TLS with this certificate (clients may still go without). */
  static async start(options: { tls?: { cert: string; key: string } } = {}): Promise<Postgres> {
    ensureDebianPackages({ pg_ctlcluster: 'postgresql' });
    const user = serviceUser('postgres');
    const dir = tempDir('postgres');
    chmodSync(dir.path, 0o755);
    chownTo(dir.path, user);
    const run = { cwd: dir.path, stdio: 'pipe' as const, ...user };
    execFileSync(
      postgresBin('initdb'),
      ['-D', join(dir.path, 'data'), '-U', 'postgres', '--auth-local=trust'],
      { ...run, env: { ...process.env, LC_ALL: 'C.UTF-8' } },
    );
    if (options.tls) copyKeyPair(options.tls, dir.path, user);
    const server = await startOnFreePorts(
      async () => new Postgres(await freePort(), dir, user, options.tls !== undefined),
      /could not bind|address already in use/i,
    );
    server.#psql('postgres', [
      `CREATE ROLE ${sqlUser} LOGIN PASSWORD '${sqlPassword}';`,
      `CREATE DATABASE ${sqlDatabase};`,
    ]);
    return server;
  }

  get #socketDir(): string {
    const path = join(this.#dir.path, 'sock');
    mkdirSync(path, { recursive: true });
    chownTo(path, this.#user);
    return path;
  }

  /** `postgres://homing:…@127.0.0.1:port/mail`, with `options` as URL query (`sslmode=…`). */
  url(options = ''): string {
    const query = options === '' ? '' : `?${options}`;
    return `postgres://${sqlUser}:${sqlPassword}@127.0.0.1:${this.port}/${sqlDatabase}${query}`;
  }

  /** Runs SQL as the superuser in the `mail` database, then lets `homing` read every table. */
  exec(sql: string): void {
    this.#psql(sqlDatabase, [sql, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${sqlUser};`]);
  }

  /** Ends every session of `homing` at the server, as a restart or a firewall would. */
  dropConnections(): void {
    this.#psql('postgres', [
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${sqlUser}';`,
    ]);
  }

  /** Starts (again) on the same port with the same data. */
  async resume(): Promise<void> {
    this.#daemon.start();
    await waitForPort(this.port);
    // The port opens before the server takes connections: wait until psql gets in.
    for (let i = 0; ; i += 1) {
      try {
        this.#psql('postgres', ['SELECT 1;']);
        return;
      } catch (error) {
        if (i > 100 || !this.#daemon.running) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  stop(): Promise<void> {
    return this.#daemon.stop();
  }

  async destroy(): Promise<void> {
    await this.#daemon.kill();
    this.#dir.remove();
  }

  #psql(database: string, statements: readonly string[]): void {
    execFileSync(
      postgresBin('psql'),
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', this.#socketDir, '-p', String(this.port)],
      {
        input: statements.join('\n'),
        env: { ...process.env, PGUSER: 'postgres', PGDATABASE: database },
        stdio: ['pipe', 'pipe', 'pipe'],
        ...this.#user,
      },
    );
  }
}
