import { Client, type Entry, InvalidCredentialsError } from 'ldapts';
import type { Address } from './address.js';
import { abortError, DirectoryError } from './errors.js';
import { renderFilter } from './escape.js';
import {
  clientOptions,
  describe,
  isTransportError,
  LdapConnection,
  type LdapConnectionOptions,
  tlsOptions,
} from './ldap-connection.js';
import type { Attributes, SourceEntry, UserSource } from './source.js';

export interface LdapSourceOptions extends LdapConnectionOptions {
  readonly baseDn: string;
  readonly scope: 'base' | 'one' | 'sub';
  /** Filter template; `{address}`, `{local}` and `{domain}` are replaced, escaped (RFC 4515). */
  readonly filter: string;
  /** Attributes tried in order for the login presented to the backend. */
  readonly loginAttributes: readonly string[];
  /** Attribute that names the user's home (catalog name or host[:port]). */
  readonly homeAttribute: string;
  /** Further attributes to fetch and hand on with the route. */
  readonly extraAttributes: readonly string[];
}

/** Users in LDAP: one reused bound connection for searches, a fresh one per password check. */
export class LdapSource implements UserSource {
  readonly kind = 'ldap';
  readonly #options: LdapSourceOptions;
  readonly #connection: LdapConnection;
  readonly #attributes: string[];

  constructor(options: LdapSourceOptions) {
    this.#options = options;
    this.#connection = new LdapConnection(options);
    this.#attributes = [
      ...new Set([...options.loginAttributes, options.homeAttribute, ...options.extraAttributes]),
    ];
  }

  async find(address: Address, signal?: AbortSignal): Promise<SourceEntry | undefined> {
    const filter = renderFilter(this.#options.filter, {
      address: address.key,
      local: address.local,
      domain: address.domain,
    });
    const entries = await this.#search(filter, signal);
    if (entries.length === 0) return undefined;
    if (entries.length > 1) {
      const dns = entries.map((e) => e.dn).join(', ');
      throw new DirectoryError(
        'AMBIGUOUS',
        `${entries.length} LDAP entries match ${address.key}: ${dns}`,
      );
    }
    return this.#toSourceEntry(entries[0] as Entry, address);
  }

  async verifyPassword(
    entry: SourceEntry,
    password: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    // RFC 4513 §5.1.2: a bind with an empty password is an unauthenticated bind and "succeeds".
    if (password === '') return false;
    if (signal?.aborted) throw abortError(signal);
    const url = this.#connection.url ?? this.#options.urls[0];
    if (url === undefined) throw new DirectoryError('UNAVAILABLE', 'no LDAP server configured');
    const client = new Client(clientOptions(url, this.#options));
    try {
      if (this.#options.startTls) await client.startTLS(tlsOptions(this.#options.tls));
      await client.bind(entry.id, password);
      return true;
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return false;
      throw new DirectoryError(
        'UNAVAILABLE',
        `LDAP bind check at ${url} failed: ${describe(error)}`,
        {
          cause: error,
        },
      );
    } finally {
      client.unbind().catch(() => {});
    }
  }

  close(): Promise<void> {
    return this.#connection.close();
  }

  async #search(filter: string, signal?: AbortSignal): Promise<Entry[]> {
    // One retry: a reused connection may have been closed by the server since its last use.
    for (let attempt = 1; ; attempt += 1) {
      if (signal?.aborted) throw abortError(signal);
      const client = await this.#connection.get();
      try {
        const { searchEntries } = await client.search(this.#options.baseDn, {
          scope: this.#options.scope,
          filter,
          attributes: this.#attributes,
          sizeLimit: 2,
        });
        return searchEntries;
      } catch (error) {
        const transport = isTransportError(error);
        if (transport) this.#connection.drop(client);
        const timedOut = describe(error).includes('timed out');
        if (transport && !timedOut && attempt === 1) continue;
        const code = timedOut ? 'TIMEOUT' : 'UNAVAILABLE';
        throw new DirectoryError(code, `LDAP search failed: ${describe(error)}`, { cause: error });
      }
    }
  }

  #toSourceEntry(entry: Entry, address: Address): SourceEntry {
    const attributes: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(entry)) {
      if (name === 'dn') continue;
      const values = Array.isArray(value) ? value : [value];
      attributes[name] = values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
    }
    const first = (name: string) => firstValue(attributes, name);
    const login =
      this.#options.loginAttributes.map(first).find((v) => v !== undefined) ?? address.key;
    const home = first(this.#options.homeAttribute) ?? '';
    return { id: entry.dn, login, home, attributes };
  }
}

/** LDAP attribute names are case-insensitive; servers echo them in their own spelling. */
function firstValue(attributes: Attributes, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, values] of Object.entries(attributes)) {
    if (key.toLowerCase() === lower && values.length > 0) return values[0];
  }
  return undefined;
}
