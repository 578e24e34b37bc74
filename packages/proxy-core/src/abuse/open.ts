import type { RedisOptions } from 'ioredis';
import { FallbackStore } from './fallback-store.js';
import { MemoryStore } from './memory-store.js';
import type { AbuseSettings } from './settings.js';
import type { AbuseStore } from './store.js';

/** Where the abuse state lives: this process (`memory`) or Redis, shared by the pool. */
export type AbuseState =
  | { readonly state: 'memory' }
  | {
      readonly state: 'redis';
      /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
      readonly url: string;
      /** Before every key and the event channel (`<prefix>events`). */
      readonly keyPrefix?: string | undefined;
      readonly connectTimeoutMs?: number | undefined;
      /** A command not answered in this time fails, and the node answers from local state. */
      readonly commandTimeoutMs?: number | undefined;
      /** A crashed node's session counts are ignored after this long. */
      readonly nodeTtlMs?: number | undefined;
      /** Heartbeat, and retry of a Redis that is connected but failing. */
      readonly checkIntervalMs?: number | undefined;
      /** Further ioredis options (TLS, Sentinel...). */
      readonly redis?: RedisOptions | undefined;
    };

export const defaultRedisState = {
  keyPrefix: 'homing:',
  connectTimeoutMs: 1000,
  commandTimeoutMs: 500,
  nodeTtlMs: 30_000,
  checkIntervalMs: 1000,
} as const;

export interface OpenAbuseStoreOptions {
  /** Told once when Redis comes up and once when it is lost, with the error (log both). */
  readonly onStateChange?: ((up: boolean, error?: unknown) => void) | undefined;
  /** The clock of the in-process state (tests). */
  readonly now?: (() => number) | undefined;
}

/**
 * The store for an `AbuseGuard`, and the pool's event bus (`publish`/`subscribe` kicks and cache
 * flushes). With Redis it does not wait for the connection: until Redis is up, and whenever it is
 * down, answers come from this node's memory. `close()` it on shutdown.
 */
export function openAbuseStore(
  settings: AbuseSettings,
  state: AbuseState,
  options: OpenAbuseStoreOptions = {},
): AbuseStore {
  // Counts matter up to the highest threshold; beyond it they need not grow (nor cost memory).
  const maxFailuresPerKey = Math.max(
    64,
    settings.blockAddressAfterFailures + 1,
    settings.blockUserAfterFailures + 1,
    settings.delayAfterFailures + 32,
  );
  const memory = new MemoryStore({
    maxEntries: settings.memoryMaxEntries,
    maxFailuresPerKey,
    now: options.now,
  });
  if (state.state === 'memory') return memory;
  return new FallbackStore({
    memory,
    onStateChange: options.onStateChange,
    checkIntervalMs: state.checkIntervalMs ?? defaultRedisState.checkIntervalMs,
    redis: {
      url: state.url,
      keyPrefix: state.keyPrefix ?? defaultRedisState.keyPrefix,
      maxFailuresPerKey,
      nodeTtlMs: state.nodeTtlMs ?? defaultRedisState.nodeTtlMs,
      connectTimeoutMs: state.connectTimeoutMs ?? defaultRedisState.connectTimeoutMs,
      commandTimeoutMs: state.commandTimeoutMs ?? defaultRedisState.commandTimeoutMs,
      redis: state.redis,
    },
  });
}
