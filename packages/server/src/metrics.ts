import type { Directory } from '@homing/directory';
import type {
  AbuseGuard,
  BackendHealth,
  BackendProbes,
  JournalEvent,
  LocalErrorContext,
  LoginOutcome,
  MessageOutcome,
  ProxyMetrics,
  RecipientOutcome,
  SessionProtocol,
  SessionRegistry,
} from '@homing/proxy-core';
import { parseHealthKey } from '@homing/proxy-core';
import { Counter, Gauge, Registry } from 'prom-client';
import { CapacityMetrics } from './capacity-metrics.js';
import { HotCounter, HotHistogram } from './hot-counts.js';
import { addOperatorMetrics, type OperatorSources } from './operator-metrics.js';

/** Functions, so that the metrics can be made before what they read from. */
export interface MetricSources extends Omit<OperatorSources, 'directoryLatency'> {
  readonly registry: () => SessionRegistry;
  readonly health: () => BackendHealth;
  readonly directory: () => Directory;
}

/** Prometheus metrics of one node (or one worker: the primary adds them up). */
export class Metrics implements ProxyMetrics {
  readonly registry = new Registry();
  // Counted on every login: plain numbers, given to prom-client at a scrape (hot-counts.ts).
  readonly #logins = new HotCounter(['protocol', 'outcome']);
  readonly #connects = new HotHistogram(
    'homing_backend_connect_seconds',
    'Time to connect to a backend: TCP, TLS and greeting',
    ['backend', 'protocol', 'result'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  readonly #bytes = new HotCounter(['protocol', 'direction']);
  // Counted on every recipient and message, alike.
  readonly #recipients = new HotCounter(['protocol', 'outcome']);
  readonly #messages = new HotCounter(['protocol', 'outcome']);
  readonly #journal: Counter<'event'>;

  #guard: AbuseGuard | undefined;
  #probes: BackendProbes | undefined;

  /** The abuse guard and the probes, once they exist. */
  watch(parts: { guard: AbuseGuard; probes: BackendProbes }): void {
    this.#guard = parts.guard;
    this.#probes = parts.probes;
  }

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const self = this;
    new Counter({
      name: 'homing_logins_total',
      help: 'Logins by protocol and outcome (ok, failed, unavailable)',
      labelNames: ['protocol', 'outcome'],
      registers,
      collect() {
        self.#logins.collectInto(this);
      },
    });
    this.registry.registerMetric(this.#connects as never);
    new Counter({
      name: 'homing_spliced_bytes_total',
      help: 'Bytes spliced between clients and backends, counted when a session ends',
      labelNames: ['protocol', 'direction'],
      registers,
      collect() {
        self.#bytes.collectInto(this);
      },
    });
    new Counter({
      name: 'homing_smtp_recipients_total',
      help: 'SMTP and LMTP recipients by outcome (accepted, unknown, refused, deferred)',
      labelNames: ['protocol', 'outcome'],
      registers,
      collect() {
        self.#recipients.collectInto(this);
      },
    });
    new Counter({
      name: 'homing_smtp_messages_total',
      help: 'SMTP, LMTP and submission messages by outcome (accepted, refused, deferred)',
      labelNames: ['protocol', 'outcome'],
      registers,
      collect() {
        self.#messages.collectInto(this);
      },
    });
    this.#journal = new Counter({
      name: 'homing_smtp_journal_total',
      help: 'MX delivery journal: recipients skipped on a retry (delivered before), recorded, refused with 452 because the journal was unavailable (fallback); failed lookups and writes (error)',
      labelNames: ['event'],
      registers,
    });
    new Gauge({
      name: 'homing_sessions',
      help: 'Live sessions by protocol and backend ("" before login)',
      labelNames: ['protocol', 'backend'],
      registers,
      collect() {
        this.reset();
        for (const s of sources.registry().list())
          this.inc({ protocol: s.protocol, backend: s.backend ?? '' });
      },
    });
    new Gauge({
      name: 'homing_backend_up',
      help: 'Backend services: 1 when users are sent there, 0 while probes or recent failures say it is down',
      labelNames: ['backend', 'protocol'],
      // With workers: down when any worker sees it down.
      aggregator: 'min',
      registers,
      collect() {
        this.reset();
        for (const p of self.#probes?.snapshot() ?? []) {
          this.set({ backend: p.backend, protocol: p.protocol }, p.available ? 1 : 0);
        }
        for (const b of sources.health().snapshot()) {
          const { backend, protocol } = parseHealthKey(b.key);
          if (!b.up) this.set({ backend, protocol }, 0);
        }
      },
    });
    new Gauge({
      name: 'homing_backend_probe_seconds',
      help: 'How long the last probe of a backend service took',
      labelNames: ['backend', 'protocol'],
      aggregator: 'max',
      registers,
      collect() {
        this.reset();
        for (const p of self.#probes?.snapshot() ?? []) {
          if (p.latencyMs !== undefined)
            this.set({ backend: p.backend, protocol: p.protocol }, p.latencyMs / 1000);
        }
      },
    });
    const abuseEvents = [
      ['penalty', 'penaltiesApplied'],
      ['login_blocked', 'loginsBlocked'],
      ['block_started', 'blocksStarted'],
      ['connection_refused', 'connectionsRefused'],
      ['session_refused', 'sessionsRefused'],
    ] as const;
    new Counter({
      name: 'homing_abuse_total',
      help: 'Abuse limits at work: penalty (a login delayed), login_blocked, block_started, connection_refused, session_refused',
      labelNames: ['event'],
      registers,
      collect() {
        const counters = self.#guard?.counters();
        this.reset();
        if (!counters) return;
        for (const [event, key] of abuseEvents) this.inc({ event }, counters[key]);
      },
    });
    const cacheEvents = [
      ['hit', 'hits'],
      ['miss', 'misses'],
      ['negative_hit', 'negativeHits'],
      ['stale', 'staleServed'],
      ['error', 'errors'],
      ['coalesced', 'coalesced'],
    ] as const;
    new Counter({
      name: 'homing_directory_cache_total',
      help: 'Directory cache events: hit, miss, negative_hit, stale (served while the source failed), error, coalesced',
      labelNames: ['event'],
      registers,
      collect() {
        const counters = sources.directory().counters;
        this.reset();
        for (const [event, key] of cacheEvents) this.inc({ event }, counters[key]);
      },
    });
    new Gauge({
      name: 'homing_directory_source_up',
      help: 'The directory source (LDAP, the users file): 0 after a query to it failed, until one succeeds again',
      aggregator: 'min',
      registers,
      collect() {
        this.set(sources.directory().sourceUp ? 1 : 0);
      },
    });
    new Gauge({
      name: 'homing_directory_cache_entries',
      help: 'Entries in the directory cache (with workers: the largest)',
      aggregator: 'max',
      registers,
      collect() {
        this.set(sources.directory().cacheSize);
      },
    });
    addOperatorMetrics(this.registry, {
      ...sources,
      directoryLatency: () => sources.directory().sourceLatency.snapshot(),
    });
  }

  login(protocol: SessionProtocol, outcome: LoginOutcome): void {
    this.#logins.inc(protocol, outcome);
  }

  backendConnect(backend: string, protocol: SessionProtocol, seconds: number, ok: boolean): void {
    this.#connects.observe(backend, protocol, ok ? 'ok' : 'failed', seconds);
  }

  spliced(protocol: SessionProtocol, up: number, down: number): void {
    this.#bytes.inc(protocol, 'up', up);
    this.#bytes.inc(protocol, 'down', down);
  }

  smtpRecipient(protocol: SessionProtocol, outcome: RecipientOutcome): void {
    this.#recipients.inc(protocol, outcome);
  }

  smtpMessage(protocol: SessionProtocol, outcome: MessageOutcome): void {
    this.#messages.inc(protocol, outcome);
  }

  readonly capacity = new CapacityMetrics(this.registry);

  localError(code: string, context: LocalErrorContext): void {
    this.capacity.localError(code, context);
  }

  smtpJournal(event: JournalEvent, count: number): void {
    this.#journal.inc({ event }, count);
  }
}
