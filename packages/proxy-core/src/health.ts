import type { Protocol } from '@homing/directory';
import type { SessionProtocol } from './sessions.js';

/**
 * The key a backend's health is kept under: one backend's service for one protocol, so that a
 * failing IMAP service does not mark the same host's SMTP down.
 */
export function healthKey(backend: string, protocol: SessionProtocol | Protocol): string {
  return `${backend}/${protocol}`;
}

/** A health key split back into its parts; a key without a protocol is all backend. */
export function parseHealthKey(key: string): { backend: string; protocol: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { backend: key, protocol: '' };
  return { backend: key.slice(0, slash), protocol: key.slice(slash + 1) };
}

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

/** What the last active probe of a backend found. */
export type ProbeVerdict = 'up' | 'down';

interface Probe {
  verdict: ProbeVerdict;
  at: number;
  error: string | undefined;
}

export interface BackendState {
  readonly key: string;
  readonly up: boolean;
  readonly failures: number;
  readonly retryInMs: number;
  readonly lastError?: string;
  /** The last active probe's verdict; absent when no probe has run. */
  readonly probe?: ProbeVerdict;
  /** When that probe finished (the `now` clock, epoch milliseconds by default). */
  readonly lastProbeAt?: number;
}

/**
 * Health of backends, keyed `name/protocol`. Passive: a backend that just failed is not hammered;
 * its users get a fast temporary failure until the backoff expires, then one try is let through.
 * Active (BackendProbes): a failed probe marks it down until a probe finds it up again, and a
 * successful probe ends any backoff at once.
 */
export class BackendHealth {
  readonly #states = new Map<string, State>();
  readonly #probes = new Map<string, Probe>();
  readonly #options: HealthOptions;
  readonly #now: () => number;

  constructor(options: HealthOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True while the last probe found the backend down, or while it is in its backoff window. */
  isDown(key: string): boolean {
    if (this.#probes.get(key)?.verdict === 'down') return true;
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

  /** An active probe found the backend working: it gets users at once, backoff or not. */
  markUp(key: string): void {
    this.#probes.set(key, { verdict: 'up', at: this.#now(), error: undefined });
    this.#states.delete(key);
  }

  /** An active probe failed: the backend's users get a fast temporary failure until one passes. */
  markDown(key: string, error: string): void {
    this.#probes.set(key, { verdict: 'down', at: this.#now(), error });
  }

  /** Drops everything known about a key (its backend left the catalog). */
  forget(key: string): void {
    this.#states.delete(key);
    this.#probes.delete(key);
  }

  /** One key's state; a key nothing is known about is up. */
  state(key: string): BackendState {
    const now = this.#now();
    const s = this.#states.get(key);
    const probe = this.#probes.get(key);
    const lastError = probe?.verdict === 'down' ? probe.error : s?.lastError;
    return {
      key,
      up: !this.isDown(key),
      failures: s?.failures ?? 0,
      retryInMs: s ? Math.max(0, s.downUntil - now) : 0,
      ...(lastError !== undefined ? { lastError } : {}),
      ...(probe ? { probe: probe.verdict, lastProbeAt: probe.at } : {}),
    };
  }

  /** Every key that failed recently or was probed. */
  snapshot(): BackendState[] {
    const keys = new Set([...this.#states.keys(), ...this.#probes.keys()]);
    return [...keys].map((key) => this.state(key));
  }
}
