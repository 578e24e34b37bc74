import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import { DirectoryError } from './errors.js';

export interface LdapTlsOptions {
  /** Verify the server certificate against `caFile` (or the system store). On by default. */
  readonly verify: boolean;
  readonly caFile?: string | undefined;
  readonly servername?: string | undefined;
}

export interface LdapConnectionOptions {
  /** Tried in order; the one that last worked is tried first. */
  readonly urls: readonly string[];
  readonly bindDn?: string | undefined;
  readonly bindPassword?: string | undefined;
  readonly startTls: boolean;
  readonly tls: LdapTlsOptions;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** Builds ldapts client options for one URL; shared by the search connection and bind checks. */
export function clientOptions(url: string, options: LdapConnectionOptions) {
  // ldapts speaks TLS from the first byte whenever it is given TLS options, whatever the
  // scheme: hand them over for ldaps:// only (StartTLS passes its own to startTLS()).
  const implicitTls = url.toLowerCase().startsWith('ldaps:');
  return {
    url,
    timeout: options.timeoutMs,
    connectTimeout: options.connectTimeoutMs,
    ...(implicitTls ? { tlsOptions: tlsOptions(options.tls) } : {}),
    strictDN: false,
  };
}

export function tlsOptions(tls: LdapTlsOptions): ConnectionOptions {
  return {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: tls.verify,
    ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** An LDAP result code means the server answered; anything else is a transport failure. */
export function isTransportError(error: unknown): boolean {
  return !(error instanceof ResultCodeError);
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const first = error.message.split('\n')[0] ?? '';
    return code && !first.includes(code) ? `${code} ${first}` : first;
  }
  return String(error);
}

/**
 * One reused, bound connection to the first LDAP server that answers. A dropped connection is
 * replaced on next use (ldapts would reconnect by itself, but unbound and without StartTLS).
 */
export class LdapConnection {
  readonly #options: LdapConnectionOptions;
  #preferred = 0;
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;

  constructor(options: LdapConnectionOptions) {
    this.#options = options;
  }

  /** The URL of the live connection, for logs and `homing lookup`. */
  get url(): string | undefined {
    return this.#client ? this.#options.urls[this.#preferred] : undefined;
  }

  async get(): Promise<Client> {
    if (this.#client?.isConnected) return this.#client;
    this.#client = undefined;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Forgets a connection that failed so the next `get` makes a new one. */
  drop(client: Client): void {
    if (this.#client === client) this.#client = undefined;
    client.unbind().catch(() => {});
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.unbind().catch(() => {});
  }

  async #connect(): Promise<Client> {
    const { urls } = this.#options;
    const failures: string[] = [];
    for (let step = 0; step < urls.length; step += 1) {
      const index = (this.#preferred + step) % urls.length;
      const url = urls[index] as string;
      const client = new Client(clientOptions(url, this.#options));
      try {
        if (this.#options.startTls) await client.startTLS(tlsOptions(this.#options.tls));
        if (this.#options.bindDn !== undefined) {
          await client.bind(this.#options.bindDn, this.#options.bindPassword ?? '');
        }
        this.#preferred = index;
        this.#client = client;
        return client;
      } catch (error) {
        client.unbind().catch(() => {});
        if (!isTransportError(error)) {
          // A refused service bind is a configuration error, the same on every server.
          throw new DirectoryError(
            'UNAVAILABLE',
            `LDAP bind as service DN at ${url} failed: ${describe(error)}`,
            {
              cause: error,
            },
          );
        }
        failures.push(`${url}: ${describe(error)}`);
      }
    }
    throw new DirectoryError('UNAVAILABLE', `no LDAP server answered (${failures.join('; ')})`);
  }
}
