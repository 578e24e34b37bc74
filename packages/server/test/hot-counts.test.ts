import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../src/hot-counts.js';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const help = 'Time to connect to a backend: TCP, TLS and greeting';
const name = 'homing_backend_connect_seconds';

/** The same observations through prom-client's own metrics (as before) and through hot counts. */
function both() {
  const before = new Registry();
  const after = new Registry();
  const logins = new Counter({
    name: 'homing_logins_total',
    help: 'Logins',
    labelNames: ['protocol', 'outcome'],
    registers: [before],
  });
  const connects = new Histogram({
    name,
    help,
    labelNames: ['backend', 'protocol', 'result'],
    buckets,
    registers: [before],
  });
  const hotLogins = new HotCounter(['protocol', 'outcome']);
  new Counter({
    name: 'homing_logins_total',
    help: 'Logins',
    labelNames: ['protocol', 'outcome'],
    registers: [after],
    collect() {
      hotLogins.collectInto(this);
    },
  });
  const hotConnects = new HotHistogram(name, help, ['backend', 'protocol', 'result'], buckets);
  after.registerMetric(hotConnects as never);
  const login = (protocol: string, outcome: string, by?: number) => {
    logins.inc({ protocol, outcome }, by);
    hotLogins.inc(protocol, outcome, by);
  };
  const connect = (backend: string, protocol: string, result: string, seconds: number) => {
    connects.observe({ backend, protocol, result }, seconds);
    hotConnects.observe(backend, protocol, result, seconds);
  };
  return { before, after, login, connect };
}

describe('hot counts', () => {
  it('scrape as prom-client counters and histograms do: names, labels, order and values', async () => {
    const { before, after, login, connect } = both();
    expect(await after.metrics()).toBe(await before.metrics());
    login('pop3', 'ok');
    login('imap', 'failed');
    login('pop3', 'ok');
    // A zero still makes the series (spliced bytes of a session that sent nothing).
    login('imap', 'ok', 0);
    login('imap', 'ok', 123_456);
    for (const seconds of [0.0004, 0.001, 0.0011, 0.003, 0.7, 5, 9.5, 0.02]) {
      connect('mbox-a', 'imap', 'ok', seconds);
    }
    connect('mbox-b', 'pop3', 'failed', 0.25);
    connect('mbox-a', 'imap', 'failed', 12);
    const text = await after.metrics();
    expect(text).toBe(await before.metrics());
    expect(text).toContain('homing_logins_total{protocol="pop3",outcome="ok"} 2');
    expect(text).toContain(
      'homing_backend_connect_seconds_bucket{le="0.001",backend="mbox-a",protocol="imap",result="ok"} 2',
    );
    expect(await after.getMetricsAsJSON()).toEqual(await before.getMetricsAsJSON());
  });

  it('add up across workers as prom-client metrics do', async () => {
    const one = both();
    const two = both();
    one.connect('mbox-a', 'imap', 'ok', 0.002);
    two.connect('mbox-a', 'imap', 'ok', 0.3);
    two.connect('mbox-b', 'imap', 'ok', 0.01);
    one.login('imap', 'ok');
    two.login('imap', 'ok', 2);
    const sum = async (side: 'before' | 'after') =>
      AggregatorRegistry.aggregate([
        await one[side].getMetricsAsJSON(),
        await two[side].getMetricsAsJSON(),
      ]).metrics();
    expect(await sum('after')).toBe(await sum('before'));
  });
});
