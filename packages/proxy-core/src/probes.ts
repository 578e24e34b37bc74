import type { Catalog, Protocol, TlsMode } from '@homing/directory';
import type { BackendHealth } from './health.js';
import { localErrorCode } from './local-errors.js';
import { type ProbeTarget, probe, probeTargets } from './probe-conversation.js';

export interface ProbeOptions {
  readonly catalog: Catalog;
  /** Where verdicts go: a failed probe marks `name/protocol` down, a passed one up. */
  readonly health: BackendHealth;
  /** Time between two probes of one endpoint, give or take `jitter` of it. */
  readonly intervalMs?: number;
  /** Fraction of the interval by which each wait is randomly longer or shorter (0 to 1). */
  readonly jitter?: number;
  /** One deadline for connect, TLS, greeting and the probe login. */
  readonly timeoutMs?: number;
  /** Failed probes in a row before an up backend is marked down. */
  readonly fall?: number;
  /** Passed probes in a row before a down backend is marked up. */
  readonly rise?: number;
  /** The protocols this node serves; endpoints of others are not probed. Default: all. */
  readonly protocols?: readonly Protocol[] | undefined;
  /** Called when an endpoint's verdict changes (its first verdict included), e.g. to log it. */
  readonly onChange?: ((state: ProbeState) => void) | undefined;
  /** A probe that failed for want of this node's resources: no verdict, reported here. */
  readonly onLocalError?: ((key: string, code: string, error: string) => void) | undefined;
  readonly random?: () => number;
  readonly now?: () => number;
}

export const probeDefaults = {
  intervalMs: 10_000,
  jitter: 0.2,
  timeoutMs: 3000,
  fall: 1,
  rise: 1,
} as const;

/** One endpoint as /backends and the metrics show it. */
export interface ProbeState {
  /** `name/protocol`, the BackendHealth key. */
  readonly key: string;
  readonly backend: string;
  readonly protocol: Protocol;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  /** The probe logs in with the backend's probe account. */
  readonly login: boolean;
  /** The probes' verdict; undefined until there is one. */
  readonly up: boolean | undefined;
  /** Whether users are sent there now (probe verdict and passive backoff together). */
  readonly available: boolean;
  /** Probes run and failed since start: counters for the metrics. */
  readonly probes: number;
  readonly failures: number;
  /** When the last probe finished (epoch milliseconds), and how long it took to its verdict. */
  readonly lastProbeAt?: number;
  readonly latencyMs?: number;
  /** The last failure, kept after the backend is up again. */
  readonly lastError?: string;
  readonly lastErrorAt?: number;
  /** The capability lines of the last passed probe's greeting (ManageSieve, RFC 5804 §1.7). */
  readonly capabilities?: readonly string[];
}

interface Entry {
  target: ProbeTarget;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  up: boolean | undefined;
  /** Passed probes in a row when positive, failed ones when negative. */
  streak: number;
  probes: number;
  failures: number;
  lastProbeAt?: number;
  latencyMs?: number;
  lastError?: string;
  lastErrorAt?: number;
  capabilities?: readonly string[];
}

/**
 * Active health checks: every endpoint of every catalog backend is connected to on a jittered
 * interval, its greeting checked (and, with a probe account, a login made), and the verdict fed
 * to BackendHealth, so that a dead backend's users get a fast temporary failure and a revived
 * one gets users back without waiting out a passive backoff.
 */
export class BackendProbes {
  readonly #health: BackendHealth;
  readonly #settings: Omit<Required<ProbeOptions>, 'catalog' | 'health' | 'protocols'>;
  readonly #protocols: ReadonlySet<Protocol> | undefined;
  readonly #entries = new Map<string, Entry>();
  /** Probes under way, those of endpoints just removed from the catalog included. */
  readonly #inFlight = new Set<Promise<void>>();
  /** Aborted by stop(): in-flight probes end and their results are dropped. */
  #halt = new AbortController();
  #started = false;

  constructor(options: ProbeOptions) {
    this.#health = options.health;
    this.#settings = {
      intervalMs: options.intervalMs ?? probeDefaults.intervalMs,
      jitter: options.jitter ?? probeDefaults.jitter,
      timeoutMs: options.timeoutMs ?? probeDefaults.timeoutMs,
      fall: options.fall ?? probeDefaults.fall,
      rise: options.rise ?? probeDefaults.rise,
      onChange: options.onChange ?? (() => {}),
      onLocalError: options.onLocalError ?? (() => {}),
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
    };
    const { intervalMs, jitter, timeoutMs, fall, rise } = this.#settings;
    if (!(intervalMs > 0) || !(timeoutMs > 0)) throw new RangeError('probe times must be > 0');
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError('probe jitter must be in [0, 1)');
    if (!Number.isInteger(fall) || !Number.isInteger(rise) || fall < 1 || rise < 1) {
      throw new RangeError('probe fall and rise must be whole numbers >= 1');
    }
    this.#protocols = options.protocols && new Set(options.protocols);
    this.setCatalog(options.catalog);
  }

  /** Follows a reloaded catalog: new endpoints are probed, removed ones forgotten. */
  setCatalog(catalog: Catalog): void {
    const targets = probeTargets(catalog, this.#protocols);
    for (const [key, entry] of this.#entries) {
      if (targets.has(key)) continue;
      clearTimeout(entry.timer);
      this.#entries.delete(key);
      this.#health.forget(key);
    }
    for (const [key, target] of targets) {
      const entry = this.#entries.get(key);
      if (entry) {
        entry.target = target;
        continue;
      }
      const fresh: Entry = {
        target,
        timer: undefined,
        running: undefined,
        up: undefined,
        streak: 0,
        probes: 0,
        failures: 0,
      };
      this.#entries.set(key, fresh);
      if (this.#started) this.#schedule(fresh, this.#firstDelay());
    }
  }

  /** Starts probing; the first probes are spread over the first `jitter` of an interval. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const entry of this.#entries.values()) this.#schedule(entry, this.#firstDelay());
  }

  /** Stops probing: clears the timers, ends the probes under way and waits for their sockets. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    const halt = this.#halt;
    this.#halt = new AbortController();
    halt.abort();
    await Promise.all(this.#inFlight);
  }

  /** Probes every endpoint (of one backend, if named) now; joins probes already under way. */
  async probeNow(backend?: string): Promise<ProbeState[]> {
    const entries = [...this.#entries.values()].filter(
      (e) => backend === undefined || e.target.backend.name.toLowerCase() === backend.toLowerCase(),
    );
    await Promise.all(entries.map((entry) => this.#run(entry)));
    return entries.map((entry) => this.#state(entry));
  }

  snapshot(): ProbeState[] {
    return [...this.#entries.values()].map((entry) => this.#state(entry));
  }

  #firstDelay(): number {
    const { intervalMs, jitter, random } = this.#settings;
    return random() * intervalMs * jitter;
  }

  #schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    const halt = this.#halt.signal;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#run(entry).finally(() => {
        if (halt.aborted || this.#entries.get(entry.target.key) !== entry) return;
        const { intervalMs, jitter, random } = this.#settings;
        this.#schedule(entry, intervalMs * (1 + jitter * (2 * random() - 1)));
      });
    }, delayMs);
    entry.timer.unref();
  }

  #run(entry: Entry): Promise<void> {
    if (entry.running) return entry.running;
    const running = this.#probe(entry).finally(() => {
      entry.running = undefined;
      this.#inFlight.delete(running);
    });
    entry.running = running;
    this.#inFlight.add(running);
    return running;
  }

  async #probe(entry: Entry): Promise<void> {
    const halt = this.#halt.signal;
    const { target } = entry;
    const started = performance.now();
    let error: string | undefined;
    let latencyMs: number;
    let capabilities: readonly string[] | undefined;
    try {
      ({ ms: latencyMs, capabilities } = await probe(target, this.#settings.timeoutMs, halt));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      latencyMs = performance.now() - started;
      const local = localErrorCode(e);
      if (local && !halt.aborted) return this.#settings.onLocalError(target.key, local, error);
    }
    if (halt.aborted || this.#entries.get(target.key) !== entry) return;
    if (capabilities !== undefined) entry.capabilities = capabilities;
    this.#note(entry, error, latencyMs);
  }

  #note(entry: Entry, error: string | undefined, latencyMs: number): void {
    const { key } = entry.target;
    const { fall, rise, now } = this.#settings;
    const before = entry.up;
    entry.probes += 1;
    entry.lastProbeAt = now();
    entry.latencyMs = Math.round(latencyMs);
    if (error === undefined) {
      entry.streak = entry.streak > 0 ? entry.streak + 1 : 1;
      if (entry.up === undefined || entry.streak >= rise) entry.up = true;
      if (entry.up) this.#health.markUp(key);
    } else {
      entry.failures += 1;
      entry.lastError = error;
      entry.lastErrorAt = entry.lastProbeAt;
      entry.streak = entry.streak < 0 ? entry.streak - 1 : -1;
      if (-entry.streak >= fall) entry.up = false;
      if (entry.up === false) this.#health.markDown(key, error);
    }
    if (entry.up !== before) this.#settings.onChange(this.#state(entry));
  }

  #state(entry: Entry): ProbeState {
    const { key, backend, protocol, endpoint, login } = entry.target;
    const { lastProbeAt, latencyMs, lastError, lastErrorAt, capabilities } = entry;
    return {
      key,
      backend: backend.name,
      protocol,
      host: backend.host,
      port: endpoint.port,
      tls: endpoint.tls,
      login: login !== undefined,
      up: entry.up,
      available: !this.#health.isDown(key),
      probes: entry.probes,
      failures: entry.failures,
      ...(lastProbeAt !== undefined ? { lastProbeAt } : {}),
      ...(latencyMs !== undefined ? { latencyMs } : {}),
      ...(lastError !== undefined ? { lastError, lastErrorAt } : {}),
      ...(capabilities !== undefined ? { capabilities } : {}),
    };
  }
}
