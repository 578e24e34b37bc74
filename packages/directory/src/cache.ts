import { LRUCache } from 'lru-cache';
import { abortError, DirectoryError } from './errors.js';
import { LatencyHistogram } from './latency.js';

export interface CacheOptions {
  /** Most entries kept; the least recently used go first. */
  readonly maxEntries: number;
  /** How long a found user is served without asking the source again. */
  readonly ttlMs: number;
  /** How long "no such user" is remembered; shorter, so a new user works soon. */
  readonly negativeTtlMs: number;
  /** How long past its TTL a found user is still served while the source fails. */
  readonly staleIfErrorMs: number;
  /**
   * After the source failed, how long a user with a stale entry gets it at once instead of
   * waiting for another query that will likely fail the same way (a hung LDAP server costs
   * each login its full timeout otherwise). 0: always ask the source first.
   */
  readonly sourceRetryMs?: number;
  /** Milliseconds since some epoch; injectable for tests. */
  readonly now?: () => number;
}

export type CacheOutcome = 'hit' | 'negative-hit' | 'miss' | 'stale';

export interface CacheResult<V> {
  readonly value: V | undefined;
  readonly outcome: CacheOutcome;
  /** Milliseconds since the source gave this answer. */
  readonly ageMs: number;
}

export interface CacheCounters {
  hits: number;
  negativeHits: number;
  misses: number;
  /** Lookups that joined a query already under way instead of making their own. */
  coalesced: number;
  staleServed: number;
  errors: number;
}

interface Entry<V> {
  readonly value: V | undefined;
  readonly storedAt: number;
}

type Loader<V> = (key: string) => Promise<V | undefined>;

/**
 * Positive and negative answers with their own TTLs, stale-if-error for positive answers only
 * (a stale "no such user" would turn a directory outage into permanent SMTP failures), and
 * single-flight: concurrent misses of one key share one source query.
 */
export class LookupCache<V extends object> {
  readonly counters: CacheCounters = {
    hits: 0,
    negativeHits: 0,
    misses: 0,
    coalesced: 0,
    staleServed: 0,
    errors: 0,
  };
  /** Time the source took to answer, in seconds. */
  readonly sourceLatency = new LatencyHistogram();

  readonly #lru: LRUCache<string, Entry<V>>;
  readonly #inflight = new Map<string, Promise<Entry<V>>>();
  readonly #options: CacheOptions;
  readonly #now: () => number;
  readonly #load: Loader<V>;
  #sourceDownUntil = 0;

  constructor(options: CacheOptions, load: Loader<V>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#load = load;
    this.#lru = new LRUCache({ max: Math.max(1, options.maxEntries) });
  }

  get size(): number {
    return this.#lru.size;
  }

  invalidate(key: string): void {
    this.#lru.delete(key);
  }

  clear(): void {
    this.#lru.clear();
  }

  /**
   * `signal` or `timeoutMs` end the caller's wait for the source (the query goes on for others
   * that share it); a cached answer never waits, so it costs no timer.
   */
  async get(key: string, signal?: AbortSignal, timeoutMs?: number): Promise<CacheResult<V>> {
    if (signal?.aborted) throw abortError(signal);
    const now = this.#now();
    const cached = this.#lru.get(key);
    if (cached && now - cached.storedAt < this.#ttl(cached)) return this.#hit(cached, now);
    if (cached && !this.#servableStale(cached, now)) this.#lru.delete(key);
    if (cached && now < this.#sourceDownUntil && this.#servableStale(cached, now)) {
      this.counters.staleServed += 1;
      return { value: cached.value, outcome: 'stale', ageMs: now - cached.storedAt };
    }

    this.counters.misses += 1;
    try {
      const fresh = await raceTimeout(raceAbort(this.#query(key), signal), timeoutMs);
      return { value: fresh.value, outcome: 'miss', ageMs: 0 };
    } catch (error) {
      if (error instanceof DirectoryError && error.code === 'ABORTED') throw error;
      const stale = this.#lru.get(key);
      const at = this.#now();
      if (stale && this.#servableStale(stale, at)) {
        this.counters.staleServed += 1;
        return { value: stale.value, outcome: 'stale', ageMs: at - stale.storedAt };
      }
      throw error;
    }
  }

  /**
   * The answer in this turn when the cache holds a fresh one (counted as `get` counts it),
   * else undefined: the common case of a login needs no promise.
   */
  getFresh(key: string, counted = true): CacheResult<V> | undefined {
    const cached = this.#lru.get(key);
    if (cached === undefined) return undefined;
    const now = this.#now();
    return now - cached.storedAt < this.#ttl(cached) ? this.#hit(cached, now, counted) : undefined;
  }

  /** A fresh entry's answer, counted unless asked not to be. */
  #hit(cached: Entry<V>, now: number, counted = true): CacheResult<V> {
    if (counted && cached.value === undefined) this.counters.negativeHits += 1;
    else if (counted) this.counters.hits += 1;
    return {
      value: cached.value,
      outcome: cached.value ? 'hit' : 'negative-hit',
      ageMs: now - cached.storedAt,
    };
  }

  #ttl(entry: Entry<V>): number {
    return entry.value === undefined ? this.#options.negativeTtlMs : this.#options.ttlMs;
  }

  #servableStale(entry: Entry<V>, now: number): boolean {
    return (
      entry.value !== undefined &&
      now - entry.storedAt < this.#options.ttlMs + this.#options.staleIfErrorMs
    );
  }

  /** The last query to the source failed (and none has succeeded since). */
  get sourceFailing(): boolean {
    return this.#sourceDownUntil !== 0;
  }

  #query(key: string): Promise<Entry<V>> {
    const running = this.#inflight.get(key);
    if (running) {
      this.counters.coalesced += 1;
      return running;
    }
    const started = performance.now();
    const query = this.#load(key).then(
      (value) => {
        this.sourceLatency.observe((performance.now() - started) / 1000);
        this.#sourceDownUntil = 0;
        const entry = { value, storedAt: this.#now() };
        this.#lru.set(key, entry);
        return entry;
      },
      (error: unknown) => {
        this.counters.errors += 1;
        this.#sourceDownUntil = this.#now() + (this.#options.sourceRetryMs ?? 0);
        throw error;
      },
    );
    const settled = query.finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, settled);
    return settled;
  }
}

/** Lets one caller stop waiting without cancelling a query that others share. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function raceTimeout<T>(promise: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new DirectoryError('ABORTED', `lookup gave up after ${ms} ms`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
