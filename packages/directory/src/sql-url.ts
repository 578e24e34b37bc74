import type { SqlDialect } from './sql-params.js';

/** Where one database server is and how to reach it, read from a `postgres://` or `mysql://` URL. */
export interface SqlServer {
  readonly dialect: SqlDialect;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  /** Whether the URL asks for TLS (`sslmode=require`, `verify-full`, `ssl=true`…). */
  readonly tls: boolean;
  /** `host:port/database`, for logs: never the user's password. */
  readonly label: string;
}

const schemes: Readonly<Record<string, SqlDialect>> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};

const defaultPorts: Readonly<Record<SqlDialect, number>> = { postgres: 5432, mysql: 3306 };

const tlsModes: Readonly<Record<string, boolean>> = {
  disable: false,
  require: true,
  'verify-ca': true,
  'verify-full': true,
  false: false,
  true: true,
};

export class SqlUrlError extends Error {
  override readonly name = 'SqlUrlError';
}

/**
 * Reads a database URL. Only `sslmode` (or `ssl`) may follow the `?`: an option homing would
 * silently ignore is refused instead. The message of a refusal never repeats the URL, which may
 * hold a password.
 */
export function parseSqlUrl(text: string): SqlServer {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SqlUrlError('not a URL (postgres://user@host:port/database or mysql://…)');
  }
  const dialect = schemes[url.protocol];
  if (!dialect) {
    throw new SqlUrlError(`scheme ${url.protocol} is neither postgres: nor mysql: (or mariadb:)`);
  }
  if (url.hostname === '') throw new SqlUrlError('the URL names no host');
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) {
    throw new SqlUrlError('the URL must name one database as its path: …/database');
  }
  if (url.hash !== '') throw new SqlUrlError('the URL must not have a #fragment');
  let tls = false;
  for (const [key, value] of url.searchParams) {
    if (key !== 'sslmode' && key !== 'ssl') {
      throw new SqlUrlError(`unknown URL option ${key}; only sslmode (or ssl) is understood`);
    }
    const mode = tlsModes[value];
    if (mode === undefined) {
      throw new SqlUrlError(`${key}=${value} is not one of ${Object.keys(tlsModes).join(', ')}`);
    }
    tls = mode;
  }
  const port = url.port === '' ? defaultPorts[dialect] : Number(url.port);
  // URL keeps the brackets of an IPv6 literal; drivers want the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    dialect,
    host,
    port,
    user: decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database,
    tls,
    label: `${url.hostname}:${port}/${database}`,
  };
}
