import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { latencyBuckets } from '@homing/directory';
import { Counter, collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { Config } from './config/schema.js';

/** Connections of one listener, counted by the listener set. */
export interface ListenerConnections {
  readonly listener: string;
  readonly protocol: string;
  readonly accepted: number;
  readonly open: number;
}

export interface OperatorSources {
  readonly config: () => Config;
  readonly connections: () => readonly ListenerConnections[];
  readonly tlsHandshakeFailures: () => number;
  /** What the pool's primary last told this worker's listeners (worker_balance): fill one. */
  readonly filling: () => boolean;
  /** Redis of abuse.state: redis; undefined with state in memory. */
  readonly sharedState: () => { readonly up: boolean } | undefined;
  readonly directoryLatency: () => {
    buckets: { le: number; count: number }[];
    count: number;
    sum: number;
  };
}

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

/** How often the event-loop lag is sampled (nodejs_eventloop_lag_*). */
const lagSampleMs = 100;

/**
 * What an operator watches beside the proxy's own figures: the process (file descriptors,
 * memory, event-loop lag), the build, certificates, TLS handshakes and listeners.
 * `aggregator` says how a worker pool's primary combines its workers' values.
 */
export function addOperatorMetrics(registry: Registry, sources: OperatorSources): void {
  const registers = [registry];
  // The event-loop lag is sampled by a timer: at prom-client's 10 ms it woke an idle process
  // 100 times a second (7 ms of CPU a second for each idle worker and the primary); at 100 ms a
  // stall long enough to matter (the alert's 250 ms) still shows in several samples.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: lagSampleMs });
  // Gauges named like counters (Prometheus naming rules, promtool check metrics); the same
  // figures are in nodejs_active_handles and nodejs_active_requests by type.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
  new Gauge({
    name: 'homing_build_info',
    help: 'Always 1; the labels say which homing and which Node.js run',
    labelNames: ['version', 'nodejs'],
    aggregator: 'first',
    registers,
  }).set({ version, nodejs: process.versions.node }, 1);
  const certificates = new CertificateDates();
  new Gauge({
    name: 'homing_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of each client-facing certificate file, read from disk at each scrape',
    labelNames: ['file', 'subject'],
    aggregator: 'min',
    registers,
    async collect() {
      this.reset();
      for (const spec of sources.config().tls?.certificates ?? []) {
        const date = await certificates.of(spec.cert);
        if (date) this.set({ file: spec.cert, subject: date.subject }, date.notAfter);
      }
    },
  });
  new Gauge({
    name: 'homing_redis_up',
    help: 'With abuse.state redis: 1 while the shared state answers, 0 while the node goes on with local state',
    aggregator: 'min',
    registers,
    collect() {
      this.reset();
      const state = sources.sharedState();
      if (state) this.set(state.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'homing_tls_handshake_failures_total',
    help: 'Client TLS handshakes (implicit TLS and STARTTLS on IMAP and POP3) that failed or timed out',
    registers,
    collect() {
      this.reset();
      this.inc(sources.tlsHandshakeFailures());
    },
  });
  new Gauge({
    name: 'homing_worker_balance_filling',
    help: 'With workers: 1 while new connections go to one worker (worker_balance fill), 0 while the kernel spreads them over all; 0 in a single process',
    // Filled when every worker was told so.
    aggregator: 'min',
    registers,
    collect() {
      this.set(sources.filling() ? 1 : 0);
    },
  });
  new Counter({
    name: 'homing_connections_total',
    help: 'Client connections accepted, per listener',
    labelNames: ['listener', 'protocol'],
    registers,
    collect() {
      this.reset();
      for (const c of sources.connections())
        this.inc({ listener: c.listener, protocol: c.protocol }, c.accepted);
    },
  });
  new Gauge({
    name: 'homing_connections',
    help: 'Client connections open now, per listener (before and after login)',
    labelNames: ['listener', 'protocol'],
    registers,
    collect() {
      this.reset();
      for (const c of sources.connections())
        this.set({ listener: c.listener, protocol: c.protocol }, c.open);
    },
  });
  registry.registerMetric(
    snapshotHistogram(
      'homing_directory_query_seconds',
      'Time the directory source (LDAP, file) took to answer a cache miss',
      sources.directoryLatency,
    ) as never,
  );
}

/** Certificate dates, parsed again only when the file changed. */
class CertificateDates {
  readonly #byFile = new Map<string, { mtime: number; notAfter: number; subject: string }>();

  async of(file: string): Promise<{ notAfter: number; subject: string } | undefined> {
    try {
      const mtime = statSync(file).mtimeMs;
      const known = this.#byFile.get(file);
      if (known?.mtime === mtime) return known;
      const x509 = new X509Certificate(await readFile(file));
      const entry = {
        mtime,
        notAfter: Math.floor(Date.parse(x509.validTo) / 1000),
        subject: /CN=([^\n,]+)/.exec(x509.subject)?.[1] ?? x509.subject,
      };
      this.#byFile.set(file, entry);
      return entry;
    } catch {
      return undefined;
    }
  }
}

/**
 * A histogram whose buckets are kept elsewhere (the directory's own counts), exported in the
 * shape prom-client's registry and cluster aggregator expect of a metric.
 */
function snapshotHistogram(name: string, help: string, read: OperatorSources['directoryLatency']) {
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const snap = read();
      const bounds =
        snap.buckets.length > 0 ? snap.buckets : latencyBuckets.map((le) => ({ le, count: 0 }));
      return {
        name,
        help,
        type: 'histogram',
        aggregator: 'sum',
        values: [
          ...bounds.map((b) => ({
            labels: { le: b.le },
            value: b.count,
            metricName: `${name}_bucket`,
          })),
          { labels: { le: '+Inf' }, value: snap.count, metricName: `${name}_bucket` },
          { labels: {}, value: snap.sum, metricName: `${name}_sum` },
          { labels: {}, value: snap.count, metricName: `${name}_count` },
        ],
      };
    },
  };
}
