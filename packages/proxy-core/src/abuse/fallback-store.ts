import type { MemoryStore } from './memory-store.js';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import type {
  AbuseStore,
  CounterKind,
  PoolEvent,
  PoolEventListener,
  SessionLease,
} from './store.js';

export interface FallbackStoreOptions {
  readonly redis: RedisStoreOptions;
  /** This node's own state: what every answer falls back to. */
  readonly memory: MemoryStore;
  /**
   * Told when the shared state comes up (true) and when it is lost (false, with the error):
   * once per change, so one line per outage in the log.
   */
  readonly onStateChange?: ((up: boolean, error?: unknown) => void) | undefined;
  /** How often the node's heartbeat is written, or a hung Redis is tried again. */
  readonly checkIntervalMs: number;
}

/**
 * Shared state that the pool survives losing. Writes go to Redis while it is up and to this
 * node's memory always; answers come from Redis while it is up (so a clear or a block by any node
 * holds for all), and from memory while it is not: then nothing waits for Redis, and the node
 * still knows what it saw itself, before the outage too. When Redis is back (it may have lost its
 * data), this node's live session counts are written again and shared answers resume.
 */
export class FallbackStore implements AbuseStore {
  readonly #redis: RedisStore;
  readonly #memory: MemoryStore;
  readonly #options: FallbackStoreOptions;
  readonly #timer: NodeJS.Timeout;
  #up = false;
  #reported: boolean | undefined;
  #recovering = false;
  /** Counts losses of Redis, so a recovery that one overtook does not claim to be up. */
  #losses = 0;
  #closed = false;

  constructor(options: FallbackStoreOptions) {
    const memory = options.memory;
    this.#memory = memory;
    this.#options = options;
    this.#redis = new RedisStore(options.redis, {
      status: (ready, error) => {
        if (ready) void this.#recover();
        else this.#down(error);
      },
      event: (event) => memory.deliver(event),
    });
    this.#timer = setInterval(() => this.#tick(), options.checkIntervalMs);
    this.#timer.unref();
  }

  /** Answers come from the shared state (false: from this node's memory alone). */
  get up(): boolean {
    return this.#up;
  }

  async recordFailure(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    const [local, shared] = await Promise.all([
      this.#memory.recordFailure(kind, key, windowMs),
      this.#shared((r) => r.recordFailure(kind, key, windowMs)),
    ]);
    return shared ?? local;
  }

  async failures(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    return (
      (await this.#shared((r) => r.failures(kind, key, windowMs))) ??
      this.#memory.failures(kind, key, windowMs)
    );
  }

  async clearFailures(kind: CounterKind, key: string): Promise<void> {
    await Promise.all([
      this.#memory.clearFailures(kind, key),
      this.#shared((r) => r.clearFailures(kind, key)),
    ]);
  }

  async block(kind: CounterKind, key: string, ms: number): Promise<void> {
    await Promise.all([
      this.#memory.block(kind, key, ms),
      this.#shared((r) => r.block(kind, key, ms)),
    ]);
  }

  async blockedFor(kind: CounterKind, key: string): Promise<number> {
    return (
      (await this.#shared((r) => r.blockedFor(kind, key))) ?? this.#memory.blockedFor(kind, key)
    );
  }

  async freeze(user: string, ms: number): Promise<void> {
    await Promise.all([this.#memory.freeze(user, ms), this.#shared((r) => r.freeze(user, ms))]);
  }

  async frozenFor(user: string): Promise<number> {
    return (await this.#shared((r) => r.frozenFor(user))) ?? this.#memory.frozenFor(user);
  }

  async thaw(user: string): Promise<void> {
    await Promise.all([this.#memory.thaw(user), this.#shared((r) => r.thaw(user))]);
  }

  /**
   * Counted in memory (this node's own sessions), and this node's count written to Redis, which
   * answers with the pool's total. Writes carry the whole count rather than +1/-1, so one that
   * fails does no lasting harm: the next one, or the rewrite after an outage, corrects it.
   */
  async openSession(key: string): Promise<SessionLease> {
    const local = await this.#memory.openSession(key);
    const shared = await this.#shared((r) => r.setSessions(key, this.#mine(key)));
    let released = false;
    return {
      count: shared ?? local.count,
      release: async () => {
        if (released) return;
        released = true;
        await local.release();
        await this.#shared((r) => r.setSessions(key, this.#mine(key)));
      },
    };
  }

  async publish(event: PoolEvent): Promise<void> {
    this.#memory.deliver(event);
    await this.#shared((r) => r.publish(event));
  }

  subscribe(listener: PoolEventListener): () => void {
    return this.#memory.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#up = false;
    clearInterval(this.#timer);
    await this.#redis.close();
    await this.#memory.close();
  }

  #mine(key: string): number {
    return this.#memory.sessionCounts().get(key) ?? 0;
  }

  /** Runs `op` on Redis while it is up; undefined when it is down or `op` fails. */
  async #shared<T>(op: (redis: RedisStore) => Promise<T>): Promise<T | undefined> {
    if (!this.#up) return undefined;
    try {
      return await op(this.#redis);
    } catch (error) {
      this.#down(error);
      return undefined;
    }
  }

  #down(error: unknown): void {
    this.#losses += 1;
    this.#up = false;
    this.#report(false, error);
  }

  async #recover(): Promise<void> {
    if (this.#recovering || this.#closed || this.#up) return;
    this.#recovering = true;
    const losses = this.#losses;
    try {
      await this.#redis.restart(this.#memory.sessionCounts());
      if (this.#closed || losses !== this.#losses) return;
      this.#up = true;
      this.#report(true);
    } catch (error) {
      this.#down(error);
    } finally {
      this.#recovering = false;
    }
  }

  #tick(): void {
    if (this.#up) {
      this.#redis.heartbeat().catch((error: unknown) => this.#down(error));
    } else if (this.#redis.ready) {
      // Connected but not trusted: a command failed or timed out (a hung server). Try again.
      void this.#recover();
    }
  }

  #report(up: boolean, error?: unknown): void {
    if (this.#reported === up || this.#closed) return;
    this.#reported = up;
    this.#options.onStateChange?.(up, error);
  }
}
