import type { SmtpBackend } from './backend.js';

export interface BackendPoolOptions {
  /** Idle connections kept per backend; one given back past this is closed. */
  readonly maxIdlePerBackend: number;
  /** An idle connection unused this long is closed (QUIT). */
  readonly idleTimeoutMs: number;
  /**
   * Whether the backend a key names is marked down (its health, by probes or failures): its
   * idle connections are closed at the next sweep, not only when a session asks for one.
   */
  readonly isDown?: ((key: string) => boolean) | undefined;
}

export const defaultBackendPool: BackendPoolOptions = {
  maxIdlePerBackend: 32,
  idleTimeoutMs: 30_000,
};

interface Idle {
  readonly client: SmtpBackend;
  readonly since: number;
}

/**
 * Connections to mailbox servers (LMTP or SMTP, greeted and past EHLO/LHLO) that a client
 * session no longer needs, kept for the next session: most MX traffic is one message per
 * connection, and a new backend connection each time costs the connect, the greeting and the
 * LHLO. Only connections between transactions are given back; the last one given back is the
 * first taken (it is the least likely to have been closed by the server meanwhile).
 */
export class BackendPool {
  readonly #idle = new Map<string, Idle[]>();
  readonly #options: BackendPoolOptions;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: BackendPoolOptions = defaultBackendPool) {
    this.#options = options;
  }

  /** Idle connections kept, all backends together. */
  get size(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** An idle connection to the backend `key` names, if one is left open. */
  take(key: string): SmtpBackend | undefined {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const { client } = list.pop() as Idle;
      if (!client.closed) return client;
    }
    return undefined;
  }

  /** A connection between transactions, for another session. */
  give(key: string, client: SmtpBackend): void {
    if (client.closed) return;
    let list = this.#idle.get(key);
    if (this.#closed || (list?.length ?? 0) >= this.#options.maxIdlePerBackend) {
      client.close();
      return;
    }
    if (!list) {
      list = [];
      this.#idle.set(key, list);
    }
    list.push({ client, since: performance.now() });
    this.#sweepLater();
  }

  /** The backend failed its health check: its idle connections are not worth trying. */
  drop(key: string): void {
    for (const { client } of this.#idle.get(key) ?? []) client.close();
    this.#idle.delete(key);
  }

  /** Drain or shutdown: every idle connection goes, and those given back later too. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const key of [...this.#idle.keys()]) this.drop(key);
  }

  #sweepLater(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sweep();
    }, this.#options.idleTimeoutMs / 2);
    this.#timer.unref();
  }

  #sweep(): void {
    const oldest = performance.now() - this.#options.idleTimeoutMs;
    for (const [key, list] of this.#idle) {
      if (this.#options.isDown?.(key)) {
        this.drop(key);
        continue;
      }
      // Oldest first: the list is in the order connections were given back.
      let stale = 0;
      while (
        stale < list.length &&
        ((list[stale] as Idle).since <= oldest || (list[stale] as Idle).client.closed)
      )
        stale += 1;
      for (const { client } of list.splice(0, stale)) client.close();
      if (list.length === 0) this.#idle.delete(key);
    }
    if (this.#idle.size > 0) this.#sweepLater();
  }
}
