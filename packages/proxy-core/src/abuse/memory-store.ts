import type {
  AbuseStore,
  CounterKind,
  PoolEvent,
  PoolEventListener,
  SessionLease,
} from './store.js';

export interface MemoryStoreOptions {
  /** Entries per table (failures, blocks) before the least recently written are dropped. */
  readonly maxEntries: number;
  /** Failures kept per key; counts stop growing there (enough to pass every threshold). */
  readonly maxFailuresPerKey: number;
  readonly now?: () => number;
}

interface FailureEntry {
  /** Times of the failures, oldest first. */
  times: number[];
  /** When the newest failure leaves its window: the whole entry is worthless then. */
  expires: number;
}

/**
 * Abuse state in this process. Failures and blocks live in Maps kept in order of last write, so
 * the entries that expire first or were touched longest ago are at the front: expired ones are
 * swept from there as new ones come, and past `maxEntries` the oldest are dropped, so a client
 * stepping through addresses or user names costs bounded memory. Session counts are not bounded
 * that way: each belongs to a live connection, and connections are bounded already.
 */
export class MemoryStore implements AbuseStore {
  readonly #failures = new Map<string, FailureEntry>();
  readonly #blocks = new Map<string, number>();
  readonly #sessions = new Map<string, number>();
  /** Not bounded by maxEntries: only operators freeze, and a client must not evict a freeze. */
  readonly #frozen = new Map<string, number>();
  readonly #listeners = new Set<PoolEventListener>();
  readonly #options: MemoryStoreOptions;
  readonly #now: () => number;

  constructor(options: MemoryStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  async recordFailure(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    const id = `${kind}:${key}`;
    const now = this.#now();
    const entry = this.#failures.get(id);
    const times = entry ? recent(entry.times, now - windowMs) : [];
    times.push(now);
    if (times.length > this.#options.maxFailuresPerKey) times.shift();
    // Deleted and set again, so it moves to the back (newest).
    this.#failures.delete(id);
    this.#failures.set(id, { times, expires: now + windowMs });
    this.#trimFailures(now);
    return times.length;
  }

  async failures(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    const entry = this.#failures.get(`${kind}:${key}`);
    if (!entry) return 0;
    const since = this.#now() - windowMs;
    return entry.times.filter((t) => t > since).length;
  }

  async clearFailures(kind: CounterKind, key: string): Promise<void> {
    this.#failures.delete(`${kind}:${key}`);
  }

  async block(kind: CounterKind, key: string, ms: number): Promise<void> {
    const id = `${kind}:${key}`;
    const now = this.#now();
    this.#blocks.delete(id);
    this.#blocks.set(id, now + ms);
    for (const [first, until] of this.#blocks) {
      if (until > now && this.#blocks.size <= this.#options.maxEntries) break;
      this.#blocks.delete(first);
    }
  }

  async blockedFor(kind: CounterKind, key: string): Promise<number> {
    const until = this.#blocks.get(`${kind}:${key}`);
    return until === undefined ? 0 : Math.max(0, until - this.#now());
  }

  async freeze(user: string, ms: number): Promise<void> {
    const now = this.#now();
    for (const [key, until] of this.#frozen) if (until <= now) this.#frozen.delete(key);
    this.#frozen.set(user, now + ms);
  }

  async frozenFor(user: string): Promise<number> {
    const until = this.#frozen.get(user);
    return until === undefined ? 0 : Math.max(0, until - this.#now());
  }

  async thaw(user: string): Promise<void> {
    this.#frozen.delete(user);
  }

  async openSession(key: string): Promise<SessionLease> {
    const count = (this.#sessions.get(key) ?? 0) + 1;
    this.#sessions.set(key, count);
    let released = false;
    return {
      count,
      release: async () => {
        if (released) return;
        released = true;
        const left = (this.#sessions.get(key) ?? 0) - 1;
        if (left > 0) this.#sessions.set(key, left);
        else this.#sessions.delete(key);
      },
    };
  }

  /** This node's live sessions per key (what a shared store is told again after an outage). */
  sessionCounts(): ReadonlyMap<string, number> {
    return this.#sessions;
  }

  async publish(event: PoolEvent): Promise<void> {
    this.deliver(event);
  }

  /** Hands an event to this node's listeners; one that throws does not stop the others. */
  deliver(event: PoolEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // a listener's own fault; the event still reaches the rest
      }
    }
  }

  subscribe(listener: PoolEventListener): () => void {
    // Wrapped, so the same function subscribed twice is two subscriptions.
    const own: PoolEventListener = (event) => listener(event);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** Entries held per table, for tests and metrics. */
  size(): { failures: number; blocks: number; sessions: number } {
    return {
      failures: this.#failures.size,
      blocks: this.#blocks.size,
      sessions: this.#sessions.size,
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  #trimFailures(now: number): void {
    for (const [first, entry] of this.#failures) {
      if (entry.expires > now && this.#failures.size <= this.#options.maxEntries) break;
      this.#failures.delete(first);
    }
  }
}

function recent(times: number[], since: number): number[] {
  let start = 0;
  while (start < times.length && (times[start] as number) <= since) start += 1;
  return start === 0 ? times : times.slice(start);
}
