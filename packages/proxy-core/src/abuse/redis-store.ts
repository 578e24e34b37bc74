import { createHash, randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { failFastRedis } from '../redis-client.js';
import { type CounterKind, type PoolEvent, parsePoolEvent } from './store.js';

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** Put before every key and the event channel, so pools can share one Redis. */
  readonly keyPrefix: string;
  /** Failures kept per key; counts stop growing there. */
  readonly maxFailuresPerKey: number;
  /** A node's session counts are ignored once it has not been heard of for this long. */
  readonly nodeTtlMs: number;
  readonly connectTimeoutMs: number;
  /** A command not answered in this time fails (and the pool falls back to local state). */
  readonly commandTimeoutMs: number;
  /** Further ioredis options (TLS, Sentinel...); the timeouts above win. */
  readonly redis?: RedisOptions | undefined;
}

/** A Lua script with its SHA1, run by EVALSHA (and EVAL when the server has not seen it yet). */
interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

// The server's clock, so every node measures windows alike.
const now = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS[1] failures (sorted set, scored by time); ARGV window ms, member, cap. */
const recordFailure = script(`${now}
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[3])
if n > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  n = cap
end
redis.call('PEXPIRE', KEYS[1], window)
return n`);

/** KEYS[1] failures; ARGV window ms. */
const countFailures = script(`${now}
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - tonumber(ARGV[1])), '+inf')`);

/**
 * KEYS[1] a user's sessions: a hash of node instance -> that instance's count. ARGV: instance,
 * its count, the prefix of instance liveness keys, their TTL, the hash's TTL. Counts of instances
 * whose liveness key has expired (a crashed node) are dropped, so they do not stay forever.
 */
const setSessions = script(`
redis.call('SET', ARGV[3] .. ARGV[1], '1', 'PX', ARGV[4])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if total > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return total`);

/** A sessions hash nobody wrote for this long is dropped (a whole pool gone at once). */
const sessionsTtlMs = 24 * 3600_000;

export interface RedisStoreHooks {
  /** The command connection became ready (true) or was lost (false). */
  status(ready: boolean, error?: unknown): void;
  /** An event another node published. */
  event(event: PoolEvent): void;
}

/**
 * Abuse state in Redis, shared by the pool. Every method throws when Redis fails: FallbackStore
 * is what the guard uses, and it answers from local state then. Failures are sorted sets scored
 * by the server's time (a sliding window), blocks are keys with a PX expiry, and a user's sessions
 * are one hash field per node instance, each instance alive while its heartbeat key lives.
 */
export class RedisStore {
  /** This process; tells its own events from other nodes'. */
  readonly nodeId = randomBytes(6).toString('base64url');
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #options: RedisStoreOptions;
  readonly #channel: string;
  #instance = '';
  #generation = 0;
  #closed = false;

  constructor(options: RedisStoreOptions, hooks: RedisStoreHooks) {
    this.#options = options;
    this.#channel = `${options.keyPrefix}events`;
    // A login must not wait for Redis.
    const connection: RedisOptions = { ...failFastRedis(options), autoResubscribe: false };
    this.#client = new Redis(options.url, { ...connection, enableAutoPipelining: true });
    this.#subscriber = new Redis(options.url, connection);
    let lastError: unknown;
    this.#client.on('error', (error: unknown) => {
      lastError = error;
      if (this.#client.status !== 'ready') hooks.status(false, error);
    });
    this.#client.on('ready', () => hooks.status(true));
    this.#client.on('close', () => hooks.status(false, lastError));
    this.#subscriber.on('error', () => {}); // the command connection reports outages
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel).catch(() => {});
    });
    this.#subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const message = parseMessage(text);
      if (message && message.origin !== this.nodeId) hooks.event(message.event);
    });
  }

  /** The command connection is up (commands may still fail: a hung server). */
  get ready(): boolean {
    return this.#client.status === 'ready';
  }

  async recordFailure(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    const member = `${Date.now()}:${randomBytes(6).toString('base64url')}`;
    const args = [windowMs, member, this.#options.maxFailuresPerKey];
    return Number(await this.#run(recordFailure, [this.#key('fail', kind, key)], args));
  }

  async failures(kind: CounterKind, key: string, windowMs: number): Promise<number> {
    return Number(await this.#run(countFailures, [this.#key('fail', kind, key)], [windowMs]));
  }

  async clearFailures(kind: CounterKind, key: string): Promise<void> {
    await this.#client.del(this.#key('fail', kind, key));
  }

  async block(kind: CounterKind, key: string, ms: number): Promise<void> {
    await this.#client.set(this.#key('block', kind, key), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  async blockedFor(kind: CounterKind, key: string): Promise<number> {
    return Math.max(0, await this.#client.pttl(this.#key('block', kind, key)));
  }

  async freeze(user: string, ms: number): Promise<void> {
    await this.#client.set(this.#freezeKey(user), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  async frozenFor(user: string): Promise<number> {
    return Math.max(0, await this.#client.pttl(this.#freezeKey(user)));
  }

  async thaw(user: string): Promise<void> {
    await this.#client.del(this.#freezeKey(user));
  }

  /** Sets this node's count of sessions under `key`; returns the pool's total. */
  async setSessions(key: string, count: number): Promise<number> {
    const args = [
      this.#instance,
      count,
      this.#livePrefix(),
      this.#options.nodeTtlMs,
      sessionsTtlMs,
    ];
    return Number(
      await this.#run(setSessions, [`${this.#options.keyPrefix}sessions:${key}`], args),
    );
  }

  /**
   * Starts a new instance of this node with these session counts: what it wrote before (and may
   * have failed to correct while Redis was away) dies with the old instance's heartbeat key.
   */
  async restart(counts: ReadonlyMap<string, number>): Promise<void> {
    const previous = this.#instance;
    this.#generation += 1;
    this.#instance = `${this.nodeId}.${this.#generation}`;
    await this.heartbeat();
    await Promise.all([...counts].map(([key, count]) => this.setSessions(key, count)));
    if (previous !== '') await this.#client.del(this.#livePrefix() + previous);
  }

  /** Keeps this instance's session counts alive for another `nodeTtlMs`. */
  async heartbeat(): Promise<void> {
    const key = this.#livePrefix() + this.#instance;
    await this.#client.set(key, '1', 'PX', this.#options.nodeTtlMs);
  }

  async publish(event: PoolEvent): Promise<void> {
    await this.#client.publish(this.#channel, JSON.stringify({ origin: this.nodeId, event }));
  }

  async ping(): Promise<void> {
    await this.#client.ping();
  }

  /** Ends both connections; this instance's session counts go with its heartbeat key. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.ready && this.#instance !== '') {
      await this.#client.del(this.#livePrefix() + this.#instance).catch(() => {});
    }
    this.#client.disconnect();
    this.#subscriber.disconnect();
  }

  #key(what: 'fail' | 'block', kind: CounterKind, key: string): string {
    return `${this.#options.keyPrefix}${what}:${kind}:${key}`;
  }

  #freezeKey(user: string): string {
    return `${this.#options.keyPrefix}freeze:${user}`;
  }

  #livePrefix(): string {
    return `${this.#options.keyPrefix}node:`;
  }

  async #run(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.#client.eval(s.text, keys.length, ...keys, ...args);
    }
  }
}

function parseMessage(text: string): { origin: string; event: PoolEvent } | undefined {
  try {
    const { origin, event } = JSON.parse(text) as { origin?: unknown; event?: unknown };
    const parsed = parsePoolEvent(event);
    return typeof origin === 'string' && parsed ? { origin, event: parsed } : undefined;
  } catch {
    return undefined;
  }
}
