import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type MetricSources, Metrics } from '../src/metrics.js';

/** Only the SMTP counters are scraped here: none of these is asked for. */
const unused = (): never => {
  throw new Error('not scraped in this test');
};
const sources = {
  registry: unused,
  health: unused,
  directory: unused,
  config: unused,
  connections: unused,
  tlsHandshakeFailures: unused,
  filling: unused,
  sharedState: unused,
} as unknown as MetricSources;

const names = ['homing_smtp_recipients_total', 'homing_smtp_messages_total'] as const;

describe('SMTP counters', () => {
  it('scrape as prom-client counters fed the same calls: names, labels, order and values', async () => {
    const metrics = new Metrics(sources);
    const before = new Registry();
    const help = (name: string) =>
      (metrics.registry.getSingleMetric(name) as unknown as { help: string }).help;
    const [recipients, messages] = names.map(
      (name) =>
        new Counter({
          name,
          help: help(name),
          labelNames: ['protocol', 'outcome'],
          registers: [before],
        }),
    ) as [Counter, Counter];
    const scrape = async (registry: Registry) =>
      (await Promise.all(names.map((n) => registry.getSingleMetricAsString(n)))).join('\n');
    expect(await scrape(metrics.registry)).toBe(await scrape(before));
    const calls = [
      ['smtp', 'accepted'],
      ['lmtp', 'unknown'],
      ['smtp', 'accepted'],
      ['smtp', 'deferred'],
      ['lmtp', 'accepted'],
    ] as const;
    for (const [protocol, outcome] of calls) {
      metrics.smtpRecipient(protocol, outcome);
      recipients.inc({ protocol, outcome });
    }
    for (const [protocol, outcome] of [...calls.slice(2), ['submission', 'refused'] as const]) {
      if (outcome === 'unknown') continue;
      metrics.smtpMessage(protocol, outcome);
      messages.inc({ protocol, outcome });
    }
    const text = await scrape(metrics.registry);
    expect(text).toBe(await scrape(before));
    expect(text).toContain('homing_smtp_recipients_total{protocol="smtp",outcome="accepted"} 2');
    expect(text).toContain('homing_smtp_messages_total{protocol="submission",outcome="refused"} 1');
    // What a worker pool's primary adds up.
    const json = (registry: Registry) =>
      Promise.all(names.map((n) => registry.getSingleMetric(n)?.get()));
    expect(await json(metrics.registry)).toEqual(await json(before));
  });
});
