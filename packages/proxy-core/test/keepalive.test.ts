import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientKeepAlive, keepAliveSoon, keepAliveSweepMs } from '../src/keepalive.js';

class Probe extends Duplex {
  readonly calls: [boolean, number | undefined][] = [];
  setKeepAlive(on: boolean, ms?: number): this {
    this.calls.push([on, ms]);
    return this;
  }
}

describe('clientKeepAlive', () => {
  it.each([
    ['has it from the listener already', 300_000, 300_000, []],
    ['has none and wants it', 0, 300_000, [[true, 300_000]]],
    ['has another idle time (a reload changed it)', 300_000, 60_000, [[true, 60_000]]],
    ['has it and wants none', 300_000, 0, [[false, undefined]]],
    ['has none and wants none', 0, 0, []],
  ])('a socket that %s', (_what, inherited, wanted, calls) => {
    const probe = new Probe();
    clientKeepAlive(probe, inherited, wanted);
    expect(probe.calls).toEqual(calls);
  });
});

describe('keepAliveSoon', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives a backend socket keepalive once it has lasted a sweep or two, not at once', () => {
    vi.useFakeTimers();
    const lasting = new Probe();
    const brief = new Probe();
    keepAliveSoon(300_000, lasting);
    keepAliveSoon(300_000, brief);
    expect(lasting.calls).toEqual([]);
    brief.destroy();
    vi.advanceTimersByTime(keepAliveSweepMs);
    expect(lasting.calls).toEqual([]);
    vi.advanceTimersByTime(keepAliveSweepMs);
    expect(lasting.calls).toEqual([[true, 300_000]]);
    // A session that ended first needs none.
    expect(brief.calls).toEqual([]);
    // Once: later sweeps leave it be.
    vi.advanceTimersByTime(5 * keepAliveSweepMs);
    expect(lasting.calls).toHaveLength(1);
  });

  it('sets none when keepalive is off', () => {
    vi.useFakeTimers();
    const probe = new Probe();
    keepAliveSoon(0, probe);
    vi.advanceTimersByTime(3 * keepAliveSweepMs);
    expect(probe.calls).toEqual([]);
  });
});
