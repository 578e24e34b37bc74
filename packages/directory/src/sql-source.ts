import type { Address } from './address.js';
import { DirectoryError } from './errors.js';
import type { LdapTlsOptions } from './ldap-connection.js';
import { type PasswordScheme, PasswordSchemeError, verifyPasswordHash } from './password-hash.js';
import type { Attributes, SourceEntry, UserSource } from './source.js';
import { runQuery, SqlAttemptError } from './sql-attempt.js';
import type { SqlPool, SqlPoolOptions, SqlRow } from './sql-driver.js';
import { bindValues, type CompiledQuery, compileQuery } from './sql-params.js';
import { parseSqlUrl, type SqlServer } from './sql-url.js';

export interface SqlSourceOptions {
  /** Tried in order; the one that last answered is tried first. */
  readonly urls: readonly string[];
  /** Password for every URL, instead of one written into each URL. */
  readonly password?: string | undefined;
  /** Returns `home` and optionally `login`; `:address`, `:localpart`, `:domain` are bound. */
  readonly query: string;
  /** Returns the stored hash in a `password` column; without it passwords are not checked. */
  readonly passwordQuery?: string | undefined;
  /** Scheme of stored hashes that carry neither `{SCHEME}` nor a `$id$` prefix. */
  readonly defaultPasswordScheme: PasswordScheme;
  /** Most connections open to one server at a time. */
  readonly maxConnections: number;
  /** Time limit of one query, the wait for a free connection included. */
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly tls: LdapTlsOptions;
}

interface Server {
  readonly server: SqlServer;
  readonly query: CompiledQuery;
  readonly passwordQuery: CompiledQuery | undefined;
  pool: SqlPool | undefined;
}

type Which = 'query' | 'passwordQuery';

/** Users in a SQL table (PostgreSQL, MySQL or MariaDB), one row per address. */
export class SqlSource implements UserSource {
  readonly kind = 'sql';
  readonly verifyPassword?: (
    entry: SourceEntry,
    password: string,
    signal?: AbortSignal,
  ) => Promise<boolean>;
  readonly #options: SqlSourceOptions;
  readonly #servers: Server[];
  #preferred = 0;

  /** Throws SqlUrlError or SqlQueryError for a URL or query that cannot work. */
  constructor(options: SqlSourceOptions) {
    this.#options = options;
    if (options.urls.length === 0) throw new Error('no database URL');
    this.#servers = options.urls.map((url) => {
      const server = parseSqlUrl(url);
      const { passwordQuery } = options;
      return {
        server,
        query: compileQuery(options.query, server.dialect),
        passwordQuery: passwordQuery ? compileQuery(passwordQuery, server.dialect) : undefined,
        pool: undefined,
      };
    });
    if (options.passwordQuery) this.verifyPassword = (e, p, s) => this.#verify(e, p, s);
  }

  async find(address: Address, signal?: AbortSignal): Promise<SourceEntry | undefined> {
    const rows = await this.#run('query', address, signal);
    if (rows.length === 0) return undefined;
    if (rows.length > 1) {
      throw new DirectoryError('AMBIGUOUS', `${rows.length} SQL rows match ${address.key}`);
    }
    return toEntry(rows[0] as SqlRow, address);
  }

  async close(): Promise<void> {
    const pools = this.#servers.map((s) => s.pool);
    for (const s of this.#servers) s.pool = undefined;
    await Promise.all(pools.map((p) => p?.close().catch(() => {})));
  }

  async #verify(entry: SourceEntry, password: string, signal?: AbortSignal): Promise<boolean> {
    if (password === '') return false;
    const at = entry.id.lastIndexOf('@');
    const address: Address = {
      key: entry.id,
      local: at < 0 ? entry.id : entry.id.slice(0, at),
      domain: at < 0 ? '' : entry.id.slice(at + 1),
    };
    const rows = await this.#run('passwordQuery', address, signal);
    if (rows.length === 0) return false;
    if (rows.length > 1) {
      throw new DirectoryError('AMBIGUOUS', `${rows.length} SQL password rows match ${entry.id}`);
    }
    const stored = column(rows[0] as SqlRow, 'password') ?? firstColumn(rows[0] as SqlRow);
    if (stored === undefined) return false;
    try {
      return await verifyPasswordHash(password, stored, this.#options.defaultPasswordScheme);
    } catch (error) {
      if (!(error instanceof PasswordSchemeError)) throw error;
      throw new DirectoryError('UNAVAILABLE', `password of ${entry.id}: ${error.message}`);
    }
  }

  async #run(which: Which, address: Address, signal?: AbortSignal): Promise<SqlRow[]> {
    const values = { address: address.key, localpart: address.local, domain: address.domain };
    const count = this.#servers.length;
    const failures: string[] = [];
    let timedOut = false;
    for (let step = 0; step < count; step += 1) {
      const index = (this.#preferred + step) % count;
      const entry = this.#servers[index] as Server;
      const compiled = entry[which] as CompiledQuery;
      let last = '';
      // After a restart every pooled connection may be dead, and each failed try closes one:
      // one more try than the pool holds reaches a fresh connection.
      for (let attempt = 0; attempt <= this.#options.maxConnections; attempt += 1) {
        try {
          const rows = await runQuery(
            await this.#pool(entry),
            compiled.text,
            bindValues(compiled, values),
            this.#options.timeoutMs,
            signal,
          );
          this.#preferred = index;
          return rows;
        } catch (error) {
          if (!(error instanceof SqlAttemptError)) throw error;
          const where = entry.server.label;
          if (error.step === 'aborted') {
            throw new DirectoryError('ABORTED', 'lookup aborted', { cause: signal?.reason });
          }
          if (error.serverError) {
            throw new DirectoryError(
              'UNAVAILABLE',
              `SQL query at ${where} failed: ${error.message}`,
              {
                cause: error.cause,
              },
            );
          }
          last = `${where}: ${error.message}`;
          timedOut = error.step === 'timeout';
          if (error.step !== 'query') break;
        }
      }
      failures.push(last);
    }
    throw new DirectoryError(
      timedOut ? 'TIMEOUT' : 'UNAVAILABLE',
      `no database server answered (${failures.join('; ')})`,
    );
  }

  async #pool(entry: Server): Promise<SqlPool> {
    if (entry.pool) return entry.pool;
    // Drivers load on first use: every `homing` command loads this package, few need them.
    const driver =
      entry.server.dialect === 'postgres'
        ? (await import('./sql-postgres.js')).openPostgresPool
        : (await import('./sql-mysql.js')).openMysqlPool;
    if (entry.pool) return entry.pool;
    const options: SqlPoolOptions = {
      server: entry.server,
      password: this.#options.password,
      maxConnections: this.#options.maxConnections,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      tls: this.#options.tls,
    };
    entry.pool = driver(options);
    return entry.pool;
  }
}

function toEntry(row: SqlRow, address: Address): SourceEntry {
  const attributes: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(row)) {
    const text = asText(value);
    if (text !== undefined) attributes[name.toLowerCase()] = [text];
  }
  const login = column(row, 'login') || address.key;
  return {
    id: login,
    login,
    home: column(row, 'home') ?? '',
    attributes: attributes as Attributes,
  };
}

/** A column by name, whatever case the server gave it. */
function column(row: SqlRow, name: string): string | undefined {
  for (const [key, value] of Object.entries(row)) {
    if (key.toLowerCase() === name) return asText(value);
  }
  return undefined;
}

function firstColumn(row: SqlRow): string | undefined {
  return asText(Object.values(row)[0]);
}

function asText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  return String(value);
}
