import type { Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { configSchema } from '../src/config/schema.js';
import {
  nextBalance,
  spreadAtLeast,
  WorkerBalancer,
  type WorkerLoad,
} from '../src/worker-balance.js';

const settings = configSchema.shape.worker_balance.parse({});
const idle = (busy: number, sessions = 0): WorkerLoad => ({
  busy,
  sessions,
  capacity: 1000,
  steerable: true,
  filling: true,
});

describe('nextBalance', () => {
  it('has the defaults the reference gives', () => {
    expect(settings).toEqual({
      new_connections: 'fill',
      busy: 0.7,
      idle_cpus: 0.5,
      sessions: 0.1,
      interval: 1000,
    });
  });

  // [filling, loads, idle CPUs, intervals spread, fill next, reason]
  const cases: [boolean, WorkerLoad[], number, number, boolean, RegExp][] = [
    // Filling goes on while the worker taking the load is not busy, or no CPU is idle.
    [true, [idle(0.5), idle(0)], 1.5, 0, true, /one worker takes the load/],
    [true, [idle(0.69), idle(0)], 1.5, 0, true, /one worker/],
    [true, [idle(0.95), idle(0)], 0.3, 0, true, /one worker/],
    // Busy with a CPU idle beside it: spread.
    [true, [idle(0.7), idle(0)], 0.5, 0, false, /a worker is 70% busy and 0\.5 CPUs idle/],
    [true, [idle(0), idle(0.9)], 1, 0, false, /90% busy/],
    // Its share of sessions, busy or not.
    [true, [idle(0.1, 100), idle(0)], 0, 0, false, /holds 100 of its 1000 sessions/],
    [true, [idle(0.1, 99), idle(0)], 0, 0, true, /one worker/],
    // Spread lately: stays spread whatever the load.
    [false, [idle(0), idle(0)], 2, spreadAtLeast - 1, false, /spread lately/],
    // Then fills again when one worker could take it all with room...
    [false, [idle(0.25), idle(0.25)], 2, spreadAtLeast, true, /the pool is 50% busy/],
    // ...or no CPU is idle for a second worker and one could take it.
    [false, [idle(0.3), idle(0.3)], 0.2, spreadAtLeast, true, /no CPU idle/],
    // Not while the load wants two, or the sessions would put one past its share.
    [false, [idle(0.3), idle(0.3)], 1, spreadAtLeast, false, /more than one worker/],
    [false, [idle(0.4), idle(0.4)], 0.2, spreadAtLeast, false, /more than one worker/],
    [false, [idle(0, 30), idle(0, 20)], 2, spreadAtLeast, false, /sessions/],
  ];
  it.each(cases)(
    'filling %s, loads %j, %s CPUs idle, spread %s: fill %s',
    (f, l, c, n, fill, why) => {
      const next = nextBalance(f, l, c, n, settings);
      expect(next.fill).toBe(fill);
      expect(next.reason).toMatch(why);
    },
  );

  it('spreads where it cannot fill: set so, one worker, or a worker that cannot steer', () => {
    const two = [idle(0), idle(0)];
    const spread = { ...settings, new_connections: 'spread' as const };
    expect(nextBalance(true, two, 2, 0, spread)).toEqual({
      fill: false,
      reason: 'worker_balance.new_connections is spread',
    });
    expect(nextBalance(true, [idle(0)], 2, 0, settings).fill).toBe(false);
    expect(nextBalance(true, [idle(0), { ...idle(0), steerable: false }], 2, 0, settings)).toEqual({
      fill: false,
      reason: 'a worker cannot steer its listeners',
    });
  });

  it('a worker without a session bound (null over IPC) never spreads the pool for its sessions', () => {
    const unbounded = { ...idle(0, 1_000_000), capacity: null };
    expect(nextBalance(true, [unbounded, idle(0)], 0, 0, settings).fill).toBe(true);
    const both = [unbounded, unbounded];
    expect(nextBalance(false, both, 2, spreadAtLeast, settings)).toEqual({
      fill: true,
      reason: 'the pool is 0% busy: one worker can take it',
    });
  });
});

describe('WorkerBalancer', () => {
  it('fills at its first look, tells only workers told otherwise, and spreads when a worker fills up', async () => {
    vi.useFakeTimers();
    try {
      let loads = [idle(0), { ...idle(0), filling: undefined }];
      const steered: unknown[] = [];
      const ask = async (op: 'load' | 'steer', args: unknown[] = []) => {
        if (op === 'steer') steered.push(args[0]);
        return op === 'load' ? loads : [];
      };
      const lines: string[] = [];
      const log = { info: (_: unknown, line: string) => lines.push(line) };
      const balancer = new WorkerBalancer(
        () => ({ ...settings, interval: 100 }),
        ask,
        log as unknown as Logger,
      );
      balancer.start();
      await vi.advanceTimersByTimeAsync(100);
      expect(steered).toEqual([true]);
      expect(lines).toEqual(['pool: one worker takes new connections']);
      // Every worker now fills: nothing more to tell.
      loads = [idle(0), idle(0)];
      await vi.advanceTimersByTimeAsync(300);
      expect(steered).toEqual([true]);
      loads = [idle(0, 100), idle(0)];
      await vi.advanceTimersByTimeAsync(100);
      expect(steered).toEqual([true, false]);
      expect(lines.at(-1)).toBe('pool: new connections spread');
      balancer.stop();
      await vi.advanceTimersByTimeAsync(1000);
      expect(steered).toEqual([true, false]);
    } finally {
      vi.useRealTimers();
    }
  });
});
