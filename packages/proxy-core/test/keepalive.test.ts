import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  clientKeepAlive,
  keepAliveEnded,
  keepAliveSoon,
  keepAliveSweepMs,
  keepAliveWaiting,
} from '../src/keepalive.js';

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

  it('holds no socket of a session that ended, and gives it no keepalive', () => {
    vi.useFakeTimers();
    const lasting = new Probe();
    const ended = new Probe();
    const endedLater = new Probe();
    const lastingSlot = keepAliveSoon(300_000, lasting);
    const endedSlot = keepAliveSoon(300_000, ended);
    const endedLaterSlot = keepAliveSoon(300_000, endedLater);
    expect(keepAliveWaiting()).toBe(3);
    // Its session ended; the socket itself was not destroyed (it lingers).
    keepAliveEnded(endedSlot, ended);
    expect(keepAliveWaiting()).toBe(2);
    vi.advanceTimersByTime(keepAliveSweepMs);
    // Between the sweeps: it has moved to the second generation and goes from there.
    keepAliveEnded(endedLaterSlot, endedLater);
    expect(keepAliveWaiting()).toBe(1);
    vi.advanceTimersByTime(keepAliveSweepMs);
    expect(lasting.calls).toEqual([[true, 300_000]]);
    expect(ended.calls).toEqual([]);
    expect(endedLater.calls).toEqual([]);
    // Once given its keepalive, the socket is no longer held either.
    expect(keepAliveWaiting()).toBe(0);
    keepAliveEnded(lastingSlot, lasting);
    expect(keepAliveWaiting()).toBe(0);
    // Its slot is taken again, and an ended session's stale slot does not empty it.
    const next = new Probe();
    expect(keepAliveSoon(300_000, next)).toBe(lastingSlot);
    keepAliveEnded(lastingSlot, lasting);
    expect(keepAliveWaiting()).toBe(1);
    keepAliveEnded(lastingSlot, next);
  });

  it('sets none when keepalive is off', () => {
    vi.useFakeTimers();
    const probe = new Probe();
    keepAliveSoon(0, probe);
    vi.advanceTimersByTime(3 * keepAliveSweepMs);
    expect(probe.calls).toEqual([]);
  });
});
