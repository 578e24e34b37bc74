import { type AddressKind, type AddressRules, normalizeAddress } from './address.js';
import { type CacheCounters, type CacheOptions, type CacheResult, LookupCache } from './cache.js';
import type { Backend, Catalog } from './catalog.js';
import { DirectoryError } from './errors.js';
import type { LatencyHistogram } from './latency.js';
import type { Attributes, SourceEntry, SourceKind, UserSource } from './source.js';

/** Where one user's mail lives and how to log in there. */
export interface Route {
  /** The login to present to the backend. */
  readonly login: string;
  readonly backend: Backend;
  /** The home as the directory names it. */
  readonly home: string;
  /** LDAP DN or file key of the entry. */
  readonly id: string;
  readonly attributes: Attributes;
}

export type LookupOrigin = 'cache' | SourceKind;

export interface LookupResult {
  /** The normalized key that was looked up; undefined when the input can name no user. */
  readonly key: string | undefined;
  /** Undefined: no such user. */
  readonly route: Route | undefined;
  readonly origin: LookupOrigin;
  /** Served from cache past its TTL because the source failed (stale-if-error). */
  readonly stale: boolean;
  readonly ageMs: number;
}

export interface DirectoryOptions {
  readonly source: UserSource;
  readonly catalog: Catalog;
  readonly rules: AddressRules;
  readonly cache: CacheOptions;
  /** Home for entries that name none; without it such entries are a BAD_ROUTE error. */
  readonly defaultHome?: string | undefined;
  /** Which pool members may get users (see LookupOptions.isHealthy); default: all of them. */
  readonly isHealthy?: ((backendName: string) => boolean) | undefined;
}

export interface LookupOptions {
  readonly kind?: AddressKind;
  readonly signal?: AbortSignal | undefined;
  /** How long the caller waits for the source; a cached answer comes at once either way. */
  readonly timeoutMs?: number | undefined;
  /**
   * When the home is a pool: whether a member (by catalog name) may get this user now, e.g. its
   * health for the caller's protocol. Overrides DirectoryOptions.isHealthy.
   */
  readonly isHealthy?: ((backendName: string) => boolean) | undefined;
  /** A look ahead of the lookup that counts (POP3's USER before PASS): not in the cache's hits. */
  readonly uncounted?: boolean | undefined;
}

/** The one question every proxy asks: "where is this user's home?" — normalized and cached. */
export class Directory {
  readonly source: UserSource;
  readonly #options: DirectoryOptions;
  readonly #rules: AddressRules;
  readonly #cache: LookupCache<SourceEntry>;
  #catalog: Catalog;

  constructor(options: DirectoryOptions) {
    this.#options = options;
    this.source = options.source;
    this.#catalog = options.catalog;
    this.#rules = {
      ...options.rules,
      defaultDomain: options.rules.defaultDomain?.toLowerCase(),
      domainAliases: Object.fromEntries(
        Object.entries(options.rules.domainAliases).map(([k, v]) => [
          k.toLowerCase(),
          v.toLowerCase(),
        ]),
      ),
    };
    this.#cache = new LookupCache(options.cache, (key) => this.#find(key));
    this.source.onChange?.(() => this.#cache.clear());
  }

  get counters(): Readonly<CacheCounters> {
    return this.#cache.counters;
  }

  get sourceLatency(): LatencyHistogram {
    return this.#cache.sourceLatency;
  }

  /** False after a query to the source failed, until one succeeds again. */
  get sourceUp(): boolean {
    return !this.#cache.sourceFailing;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  get canVerifyPasswords(): boolean {
    return this.source.verifyPassword !== undefined;
  }

  /** Swaps the backend catalog (config reload); cached entries resolve against the new one. */
  setCatalog(catalog: Catalog): void {
    this.#catalog = catalog;
  }

  async lookup(input: string, options: LookupOptions = {}): Promise<LookupResult> {
    const address = normalizeAddress(input, this.#rules, options.kind ?? 'login');
    if (!address)
      return { key: undefined, route: undefined, origin: 'cache', stale: false, ageMs: 0 };
    const result = await this.#cache.get(address.key, options.signal, options.timeoutMs);
    return this.#result(address.key, result, options);
  }

  /**
   * `lookup`'s answer in this turn when it needs no source (a fresh cache entry, or an address
   * that cannot be a user's), else undefined: then `lookup` asks the source. Throws as `lookup`
   * rejects (a route that names no home).
   */
  lookupNow(input: string, options: LookupOptions = {}): LookupResult | undefined {
    if (options.signal?.aborted) return undefined;
    const address = normalizeAddress(input, this.#rules, options.kind ?? 'login');
    if (!address)
      return { key: undefined, route: undefined, origin: 'cache', stale: false, ageMs: 0 };
    const result = this.#cache.getFresh(address.key, options.uncounted !== true);
    return result === undefined ? undefined : this.#result(address.key, result, options);
  }

  #result(key: string, result: CacheResult<SourceEntry>, options: LookupOptions): LookupResult {
    const origin: LookupOrigin = result.outcome === 'miss' ? this.source.kind : 'cache';
    const isHealthy = options.isHealthy ?? this.#options.isHealthy;
    const route = result.value ? this.#route(result.value, isHealthy) : undefined;
    return {
      key,
      route,
      origin,
      stale: result.outcome === 'stale',
      ageMs: result.ageMs,
    };
  }

  /** Checks a password with the source itself (LDAP bind as the user's entry). */
  async verifyPassword(route: Route, password: string, signal?: AbortSignal): Promise<boolean> {
    if (!this.source.verifyPassword) {
      throw new DirectoryError(
        'UNAVAILABLE',
        `the ${this.source.kind} source cannot check passwords`,
      );
    }
    const entry: SourceEntry = {
      id: route.id,
      login: route.login,
      home: route.home,
      attributes: route.attributes,
    };
    return this.source.verifyPassword(entry, password, signal);
  }

  invalidate(input: string, kind: AddressKind = 'login'): void {
    const address = normalizeAddress(input, this.#rules, kind);
    if (address) this.#cache.invalidate(address.key);
  }

  clear(): void {
    this.#cache.clear();
  }

  close(): Promise<void> {
    return this.source.close();
  }

  #find(key: string): Promise<SourceEntry | undefined> {
    const address = normalizeAddress(key, this.#rules, 'login');
    if (!address) return Promise.resolve(undefined);
    return this.source.find(address);
  }

  #route(entry: SourceEntry, isHealthy: LookupOptions['isHealthy']): Route {
    const home = entry.home !== '' ? entry.home : this.#options.defaultHome;
    if (home === undefined) {
      throw new DirectoryError(
        'BAD_ROUTE',
        `entry ${entry.id} names no home and there is no default`,
      );
    }
    return {
      login: entry.login,
      // Routes are made per lookup, never cached: a pool member's health counts at once.
      backend: this.#catalog.resolve(home, { key: entry.login, isHealthy }),
      home,
      id: entry.id,
      attributes: entry.attributes,
    };
  }
}
