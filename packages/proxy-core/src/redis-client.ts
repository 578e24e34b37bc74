import type { RedisOptions } from 'ioredis';

/** The shared Redis settings of the abuse limits and of the delivery journal. */
export interface RedisClientSettings {
  readonly connectTimeoutMs: number;
  /** A command not answered in this time fails. */
  readonly commandTimeoutMs: number;
  /** Further ioredis options (TLS, Sentinel...); the settings above win. */
  readonly redis?: RedisOptions | undefined;
}

/** Reconnects wait 200 ms more each try, up to this. */
const reconnectMaxMs = 2000;

/**
 * ioredis options for a client that someone waits on (a login, a sender): while Redis is away a
 * command fails at once instead of queueing, and the client keeps reconnecting meanwhile.
 */
export function failFastRedis(settings: RedisClientSettings): RedisOptions {
  return {
    ...settings.redis,
    connectTimeout: settings.connectTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, reconnectMaxMs),
  };
}
