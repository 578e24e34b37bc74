import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { keepAliveEnded, keepAliveSoon } from './keepalive.js';
import type { ProxyMetrics } from './metrics.js';
import type { SessionEntry, SessionInfo, SessionProtocol, SessionRegistry } from './sessions.js';
import { Splice, type SpliceResult } from './splice.js';

/** What a session keeps past its login. */
export interface SplicedSessionSpec {
  readonly id: string;
  readonly protocol: SessionProtocol;
  /** The client's address. */
  readonly client: string;
  /** When the client connected (Date.now()). */
  readonly startedAt: number;
  readonly user: string;
  readonly backend: string;
  /** The listener's logger: the session's own fields are written with the closing line. */
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly registry: SessionRegistry;
  /** Called when the session ends (e.g. a per-user session slot). */
  readonly release: () => void;
  /** TCP keepalive idle time for the backend socket, set a second or two on (keepalive.ts); 0: none. */
  readonly backendKeepAliveMs: number;
}

/**
 * A logged-in session: the splice, and only what the session list, a kick and the closing log
 * line need. Thousands of these sit idle for hours, so it is one object with plain fields: no
 * logger of its own, no closures, nothing of the login it came from.
 */
export class SplicedSession extends Splice implements SessionInfo, SessionEntry {
  readonly id: string;
  readonly protocol: SessionProtocol;
  readonly client: string;
  readonly user: string;
  readonly backend: string;
  readonly #startedAt: number;
  readonly #log: Logger;
  readonly #metrics: ProxyMetrics;
  readonly #registry: SessionRegistry;
  readonly #release: () => void;
  readonly #keepAliveSlot: number;

  constructor(client: Duplex, backend: Duplex, spec: SplicedSessionSpec) {
    super(client, backend);
    this.id = spec.id;
    this.protocol = spec.protocol;
    this.client = spec.client;
    this.user = spec.user;
    this.backend = spec.backend;
    this.#startedAt = spec.startedAt;
    this.#log = spec.log;
    this.#metrics = spec.metrics;
    this.#registry = spec.registry;
    this.#release = spec.release;
    this.#registry.put(this);
    this.#keepAliveSlot = keepAliveSoon(spec.backendKeepAliveMs, backend);
  }

  get info(): SessionInfo {
    return this;
  }

  get since(): Date {
    return new Date(this.#startedAt);
  }

  kick(reason: string): void {
    this.destroy(reason);
  }

  protected override ended(result: SpliceResult): void {
    keepAliveEnded(this.#keepAliveSlot, this.backendSide);
    this.#release();
    this.#registry.remove(this.id);
    this.#metrics.spliced(this.protocol, result.up, result.down);
    // The fields the session's logger had before the splice, in the same order.
    this.#log.info(
      {
        sid: this.id,
        client: this.client,
        user: this.user,
        backend: this.backend,
        bytes_up: result.up,
        bytes_down: result.down,
        duration_ms: Date.now() - this.#startedAt,
        reason: result.reason,
      },
      'session closed',
    );
  }
}
