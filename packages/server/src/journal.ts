import { defaultRedisState } from '@homing/proxy-core';
import { type DeliveryJournal, MemoryJournal, RedisJournal } from '@homing/smtp-proxy';
import type { Config } from './config/schema.js';

/** The MX delivery journal the config asks for: this node's memory, or the pool's Redis. */
export function openJournal(config: Config): DeliveryJournal {
  const settings = config.smtp.journal;
  const redis = config.abuse.redis;
  if (settings.state === 'redis' && redis) {
    return new RedisJournal({
      url: redis.url,
      keyPrefix: redis.key_prefix,
      retentionMs: settings.retention,
      connectTimeoutMs: defaultRedisState.connectTimeoutMs,
      commandTimeoutMs: defaultRedisState.commandTimeoutMs,
    });
  }
  return new MemoryJournal({ retentionMs: settings.retention, maxEntries: settings.max_entries });
}

/** What decides which journal a node has: a reload that changes it opens a new one. */
export function journalKey(config: Config): string {
  return JSON.stringify({ journal: config.smtp.journal, redis: config.abuse.redis });
}
