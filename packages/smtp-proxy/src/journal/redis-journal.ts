import { failFastRedis } from '@homing/proxy-core';
import { Redis, type RedisOptions } from 'ioredis';
import type { DeliveryJournal } from './journal.js';

export interface RedisJournalOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** Before every key, so that pools can share one Redis. */
  readonly keyPrefix: string;
  /** How long an entry is kept: longer than senders go on retrying. */
  readonly retentionMs: number;
  readonly connectTimeoutMs: number;
  /** A command not answered in this time fails; the transaction then does not spread. */
  readonly commandTimeoutMs: number;
  /** Further ioredis options (TLS, Sentinel...); the timeouts above win. */
  readonly redis?: RedisOptions | undefined;
}

/**
 * The journal of a pool: a retry may reach any node. One hash per message (recipient → the
 * backend's reply), expiring after the retention window; Redis's own memory limits bound it.
 */
export class RedisJournal implements DeliveryJournal {
  readonly #client: Redis;
  readonly #options: RedisJournalOptions;

  constructor(options: RedisJournalOptions) {
    this.#options = options;
    // A sender is waiting.
    this.#client = new Redis(options.url, failFastRedis(options));
    // Outages show as `available` and as failed commands; the listener logs those.
    this.#client.on('error', () => {});
  }

  get available(): boolean {
    return this.#client.status === 'ready';
  }

  async delivered(fingerprint: string): Promise<ReadonlyMap<string, string>> {
    const fields = await this.#client.hgetall(this.#key(fingerprint));
    return new Map(Object.entries(fields));
  }

  async record(fingerprint: string, delivered: ReadonlyMap<string, string>): Promise<void> {
    if (delivered.size === 0) return;
    const key = this.#key(fingerprint);
    const results = await this.#client
      .multi()
      .hset(key, Object.fromEntries(delivered))
      .pexpire(key, this.#options.retentionMs)
      .exec();
    const failed = results?.find(([error]) => error)?.[0];
    if (!results || failed) throw failed ?? new Error('the journal write was discarded');
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #key(fingerprint: string): string {
    return `${this.#options.keyPrefix}journal:${fingerprint}`;
  }
}
