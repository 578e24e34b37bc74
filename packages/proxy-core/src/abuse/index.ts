export { FallbackStore, type FallbackStoreOptions } from './fallback-store.js';
export {
  type AbuseCounters,
  AbuseGuard,
  type AbuseGuardOptions,
  type ConnectDecision,
  type LoginFailure,
  type LoginGate,
  type SessionDecision,
} from './guard.js';
export { addressKey, userKey } from './keys.js';
export { gateLogin } from './login.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export {
  type AbuseState,
  defaultRedisState,
  type OpenAbuseStoreOptions,
  openAbuseStore,
} from './open.js';
export { RedisStore, type RedisStoreHooks, type RedisStoreOptions } from './redis-store.js';
export {
  type AbuseSettings,
  defaultAbuseSettings,
  penaltyDelay,
  type UserBlockScope,
} from './settings.js';
export {
  type AbuseStore,
  type CounterKind,
  type PoolEvent,
  type PoolEventListener,
  parsePoolEvent,
  type SessionLease,
} from './store.js';
