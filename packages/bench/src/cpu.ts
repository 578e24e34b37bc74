import { readFileSync } from 'node:fs';
import type { HomingProcess } from './homing-process.js';

/** What one measured stretch of time cost: wall time, homing's CPU, how busy the machine was. */
export interface Usage {
  readonly wallMs: number;
  readonly homingCpuMs: number;
  /** All CPUs together, 0 to 1, from /proc/stat (anything running counts, not only the bench). */
  readonly machineBusy: number;
}

export function addUsage(a: Usage, b: Usage): Usage {
  const wallMs = a.wallMs + b.wallMs;
  return {
    wallMs,
    homingCpuMs: a.homingCpuMs + b.homingCpuMs,
    machineBusy: wallMs > 0 ? (a.machineBusy * a.wallMs + b.machineBusy * b.wallMs) / wallMs : 0,
  };
}

export const noUsage: Usage = { wallMs: 0, homingCpuMs: 0, machineBusy: 0 };

/** Runs `work` and reports what it cost besides its own result. */
export async function measured<T>(
  homing: HomingProcess,
  work: () => Promise<T>,
): Promise<{ result: T; usage: Usage }> {
  const machineBefore = machineTicks();
  const homingBefore = homing.cpuMs();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const homingCpuMs = homing.cpuMs() - homingBefore;
  const machineAfter = machineTicks();
  const total = machineAfter.total - machineBefore.total;
  const idle = machineAfter.idle - machineBefore.idle;
  return { result, usage: { wallMs, homingCpuMs, machineBusy: total > 0 ? 1 - idle / total : 0 } };
}

/** The first line of /proc/stat: ticks of all CPUs so far, and of those idle or waiting for I/O. */
function machineTicks(): { total: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // user nice system idle iowait irq softirq steal; guest time is already in user.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return {
    total: ticks.reduce((sum, t) => sum + t, 0),
    idle: (ticks[3] ?? 0) + (ticks[4] ?? 0),
  };
}
