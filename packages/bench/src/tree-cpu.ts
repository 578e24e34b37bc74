import { existsSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system, ms) of a process and, apart, of its live children, from /proc. A
 * child that exits between two readings takes its time with it: compare runs without restarts.
 */
export function processTreeCpuMs(pid: number): { self: number; children: number } {
  const childrenFile = `/proc/${pid}/task/${pid}/children`;
  const children = existsSync(childrenFile)
    ? readFileSync(childrenFile, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    : [];
  return {
    self: cpuMs(pid),
    children: children.reduce((sum, child) => sum + cpuMs(child), 0),
  };
}

function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: utime is field 14 and stime 15 (proc(5)), 10 ms ticks.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}
