import { existsSync, readFileSync } from 'node:fs';
import { processCpuMs } from './cpu.js';

/**
 * CPU time (user + system, ms) of a process and, apart, of its live children, from /proc. A
 * child that exits between two readings takes its time with it: compare runs without restarts.
 */
export function processTreeCpuMs(pid: number): { self: number; children: number } {
  return {
    self: processCpuMsOrZero(pid),
    children: childPids(pid).reduce((sum, child) => sum + processCpuMsOrZero(child), 0),
  };
}

/** The direct children of a process (none once it is gone), from its main thread's list. */
export function childPids(pid: number): number[] {
  const childrenFile = `/proc/${pid}/task/${pid}/children`;
  return existsSync(childrenFile)
    ? readFileSync(childrenFile, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    : [];
}

/** A process's CPU ms; one that is gone (or going) counts nothing. */
export function processCpuMsOrZero(pid: number): number {
  try {
    return processCpuMs(pid);
  } catch {
    return 0;
  }
}
