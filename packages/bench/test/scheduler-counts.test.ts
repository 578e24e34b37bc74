import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { addCounts, noCounts, schedulerCounts } from '../src/cpu.js';

describe("a process's scheduler counts", () => {
  it('grow by the CPU it spends and by each time it waits', async () => {
    const before = schedulerCounts(process.pid);
    const until = performance.now() + 300;
    while (performance.now() < until) Math.sqrt(Math.random());
    for (let i = 0; i < 5; i++) await sleep(5);
    const spent = addCounts(schedulerCounts(process.pid), before, -1);
    expect(spent.userMs + spent.systemMs).toBeGreaterThan(0);
    expect(spent.sleeps).toBeGreaterThanOrEqual(5);
    expect(spent.preemptions).toBeGreaterThanOrEqual(0);
  });

  it('are zeros for a process that is gone', () => {
    expect(schedulerCounts(2 ** 22 + 1)).toEqual(noCounts);
  });

  it('add and subtract field by field', () => {
    const a = { userMs: 30, systemMs: 20, sleeps: 5, preemptions: 2 };
    const b = { userMs: 10, systemMs: 10, sleeps: 1, preemptions: 1 };
    expect(addCounts(a, b, -1)).toEqual({ userMs: 20, systemMs: 10, sleeps: 4, preemptions: 1 });
    expect(addCounts(noCounts, a)).toEqual(a);
  });
});
