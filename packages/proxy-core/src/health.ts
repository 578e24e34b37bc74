export interface HealthOptions {
  /** How long a backend is skipped after its first failure; doubles with each further one. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  readonly now?: () => number;
}

interface State {
  failures: number;
  downUntil: number;
  lastError: string;
}

export interface BackendState {
  readonly key: string;
  readonly up: boolean;
  readonly failures: number;
  readonly retryInMs: number;
  readonly lastError?: string;
}

/**
 * Passive health of backends, keyed `name/protocol`: a backend that just failed is not hammered;
 * its users get a fast temporary failure until the backoff expires, then one try is let through.
 */
export class BackendHealth {
  readonly #states = new Map<string, State>();
  readonly #options: HealthOptions;
  readonly #now: () => number;

  constructor(options: HealthOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True while the backend is in its backoff window. */
  isDown(key: string): boolean {
    const state = this.#states.get(key);
    return state !== undefined && this.#now() < state.downUntil;
  }

  failure(key: string, error: string): void {
    const state = this.#states.get(key) ?? { failures: 0, downUntil: 0, lastError: '' };
    state.failures += 1;
    const backoff = Math.min(
      this.#options.backoffMinMs * 2 ** (state.failures - 1),
      this.#options.backoffMaxMs,
    );
    state.downUntil = this.#now() + backoff;
    state.lastError = error;
    this.#states.set(key, state);
  }

  success(key: string): void {
    this.#states.delete(key);
  }

  snapshot(): BackendState[] {
    const now = this.#now();
    return [...this.#states].map(([key, s]) => ({
      key,
      up: now >= s.downUntil,
      failures: s.failures,
      retryInMs: Math.max(0, s.downUntil - now),
      lastError: s.lastError,
    }));
  }
}
