import type { ConnectionOptions } from 'node:tls';
import { type LdapTlsOptions, tlsOptions } from './ldap-connection.js';
import type { SqlServer } from './sql-url.js';

export type SqlRow = Readonly<Record<string, unknown>>;

/** One connection taken from a pool; given back with `release`, or thrown away with `destroy`. */
export interface SqlConnection {
  query(text: string, values: readonly string[]): Promise<SqlRow[]>;
  release(): void;
  /** For a connection that failed or hung: it is closed, never handed out again. */
  destroy(): void;
}

/** A bounded pool of connections to one database server. */
export interface SqlPool {
  acquire(): Promise<SqlConnection>;
  /** True when the server answered with an error (bad SQL, no permission), not the network. */
  isServerError(error: unknown): boolean;
  close(): Promise<void>;
}

export interface SqlPoolOptions {
  readonly server: SqlServer;
  /** Overrides the URL's password, so that one need not be URL-encoded. */
  readonly password?: string | undefined;
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  /** Idle connections are closed after this long. */
  readonly idleTimeoutMs: number;
  readonly tls: LdapTlsOptions;
}

/** TLS settings for a driver, or undefined when the URL asks for none. */
export function driverTls(options: SqlPoolOptions): ConnectionOptions | undefined {
  if (!options.server.tls) return undefined;
  // The driver checks the certificate against the URL's host and sends it as SNI when it is a
  // name (never an address, RFC 6066 §3).
  return tlsOptions(options.tls);
}
