import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Freezer } from '../src/move/freezer.js';
import type { PoolControl } from '../src/move/pool-control.js';

/** A pool that grants `grantMs` and records what it was asked. */
function pool(grantMs: number, failAfter = Number.POSITIVE_INFINITY) {
  const calls: string[] = [];
  let freezes = 0;
  const control: PoolControl = {
    async freeze(login) {
      freezes += 1;
      calls.push(`freeze ${login}`);
      if (freezes > failAfter) throw new Error('node gone');
      return grantMs;
    },
    async thaw(login) {
      calls.push(`thaw ${login}`);
    },
    async kick() {
      return 0;
    },
    async flush() {},
    async homeOf() {
      return undefined;
    },
  };
  return { control, calls };
}

describe('Freezer', () => {
  it('renews at a third of the granted time and thaws on stop', async () => {
    const { control, calls } = pool(300);
    const freezer = new Freezer(control, 'alice', 60_000);
    expect(await freezer.start()).toBe(300);
    await sleep(350);
    freezer.check();
    await freezer.stop();
    const renewals = calls.filter((c) => c === 'freeze alice').length;
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(calls.at(-1)).toBe('thaw alice');
    await sleep(250);
    expect(calls.filter((c) => c === 'freeze alice')).toHaveLength(renewals);
  });

  it('released, it renews no more and does not thaw', async () => {
    const { control, calls } = pool(300);
    const freezer = new Freezer(control, 'alice', 60_000);
    await freezer.start();
    freezer.release();
    await sleep(250);
    expect(calls).toEqual(['freeze alice']);
  });

  it('check() throws once a renewal failed', async () => {
    const { control } = pool(300, 1);
    const freezer = new Freezer(control, 'alice', 60_000);
    await freezer.start();
    await sleep(150);
    expect(() => freezer.check()).toThrow(/could not be renewed: .*node gone/);
    freezer.release();
  });
});
