import { describe, expect, it } from 'vitest';
import { measured, type ProcessGroup, totalCpuMs } from '../src/cpu.js';

/** A group whose processes' CPU ms are whatever the test sets them to. */
function fakeGroup(name: string, ms: Record<string, number>): ProcessGroup {
  return {
    name,
    cpuMs: () => Object.values(ms).reduce((sum, v) => sum + v, 0),
    cpuMsByProcess: () => ({ ...ms }),
    assertRunning: () => {},
  };
}

describe('CPU of a measured stretch', () => {
  it("counts a pool's primary and each worker apart, and all of them in the total", async () => {
    const ms = { primary: 100, w1: 2000, w2: 300 };
    const { usage } = await measured([fakeGroup('homing', ms)], async () => {
      ms.primary += 2;
      ms.w1 += 500;
    });
    expect(usage.cpuMs).toEqual({ 'homing primary': 2, 'homing w1': 500, 'homing w2': 0 });
    expect(totalCpuMs(usage)).toBe(502);
  });

  it('counts a group of one process under its name alone', async () => {
    const ms = { primary: 100 };
    const { usage } = await measured([fakeGroup('homing/1', ms)], async () => {
      ms.primary += 40;
    });
    expect(usage.cpuMs).toEqual({ 'homing/1': 40 });
  });
});
