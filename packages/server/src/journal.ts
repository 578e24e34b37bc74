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

/**
 * Each process has its own memory journal: with several workers, a retry that reaches another
 * worker than the first attempt is not recognised, and recipients that had the message get it
 * again. Said once at start, so that an operator moves the journal to Redis.
 */
export function journalWarning(config: Config): string | undefined {
  const fanout = config.listeners.some((l) => l.protocol === 'smtp' && l.policy === 'fanout');
  if (!fanout || config.smtp.journal.state !== 'memory' || config.workers === 1) return undefined;
  return 'smtp.journal.state memory with several workers: each worker keeps its own journal, and a retry that reaches another worker may give recipients a second copy; use state redis';
}

/** What decides which journal a node has: a reload that changes it opens a new one. */
export function journalKey(config: Config): string {
  return JSON.stringify({ journal: config.smtp.journal, redis: config.abuse.redis });
}
