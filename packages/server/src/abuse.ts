import {
  AbuseGuard,
  type AbuseSettings,
  type AbuseStore,
  AddressSet,
  defaultAbuseSettings,
  openAbuseStore,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';

export function abuseSettings(config: Config): AbuseSettings {
  const a = config.abuse;
  return {
    ...defaultAbuseSettings,
    maxConnectionsPerAddress: a.max_connections_per_address,
    maxConnectionsPerUser: a.max_sessions_per_user,
    failureWindowMs: a.failure_window,
    delayAfterFailures: a.delay_after_failures,
    delayStepMs: a.delay_step,
    maxDelayMs: a.max_delay,
    blockAddressAfterFailures: a.block_address_after,
    blockUserAfterFailures: a.block_user_after,
    userBlockScope: a.block_user_scope === 'everywhere' ? 'everywhere' : 'failing-addresses',
    blockMs: a.block_time,
  };
}

/** The abuse guard and the store behind it: this node's memory, or Redis shared by the pool. */
export function openAbuse(config: Config, log: Logger): { guard: AbuseGuard; store: AbuseStore } {
  const settings = abuseSettings(config);
  const redis = config.abuse.redis;
  const store = openAbuseStore(
    settings,
    config.abuse.state === 'redis' && redis
      ? { state: 'redis', url: redis.url, keyPrefix: redis.key_prefix }
      : { state: 'memory' },
    {
      onStateChange: (up, error) =>
        up
          ? log.info('shared state: Redis is up')
          : log.warn(
              { err: error instanceof Error ? error.message : error },
              'shared state: Redis lost, going on with local state',
            ),
    },
  );
  const guard = new AbuseGuard(settings, store, { exempt: new AddressSet(config.abuse.exempt) });
  return { guard, store };
}
