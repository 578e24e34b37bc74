import { readdirSync, readFileSync } from 'node:fs';

/** Processes whose CPU time is read together under one name (nginx: master and workers). */
export interface ProcessGroup {
  readonly name: string;
  /** User + system CPU time so far, in ms (10 ms ticks: compare over a second or more). */
  cpuMs(): number;
  /**
   * The same by process, where the group's processes are worth telling apart (homing's primary
   * and each worker), the names the same from one reading to the next.
   */
  cpuMsByProcess?(): Readonly<Record<string, number>>;
  /** Throws when the process has exited, with what it last logged. */
  assertRunning(): void;
}

/** What one measured stretch of time cost: wall time, CPU of the groups, how busy the machine was. */
export interface Usage {
  readonly wallMs: number;
  /** CPU ms of each process group measured, by name. */
  readonly cpuMs: Readonly<Record<string, number>>;
  /** All CPUs together, 0 to 1, from /proc/stat (anything running counts, not only the bench). */
  readonly machineBusy: number;
  /**
   * CPU ms of the whole machine, every process (proxy, Dovecot, load generator) and the kernel's
   * own work: what an operation costs, wherever the kernel charged it.
   */
  readonly machineMs: number;
}

export function addUsage(a: Usage, b: Usage): Usage {
  const wallMs = a.wallMs + b.wallMs;
  const cpuMs: Record<string, number> = { ...a.cpuMs };
  for (const [name, ms] of Object.entries(b.cpuMs)) cpuMs[name] = (cpuMs[name] ?? 0) + ms;
  return {
    wallMs,
    cpuMs,
    machineBusy: wallMs > 0 ? (a.machineBusy * a.wallMs + b.machineBusy * b.wallMs) / wallMs : 0,
    machineMs: a.machineMs + b.machineMs,
  };
}

export const noUsage: Usage = { wallMs: 0, cpuMs: {}, machineBusy: 0, machineMs: 0 };

/** All CPU ms of a usage, every group together. */
export function totalCpuMs(usage: Usage): number {
  return Object.values(usage.cpuMs).reduce((sum, ms) => sum + ms, 0);
}

/** Runs `work` and reports what it cost besides its own result. */
export async function measured<T>(
  groups: readonly ProcessGroup[],
  work: () => Promise<T>,
): Promise<{ result: T; usage: Usage }> {
  const machineBefore = machineTicks();
  const before = groups.map(readingOf);
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const cpuMs: Record<string, number> = {};
  groups.forEach((g, i) => {
    for (const [name, ms] of Object.entries(readingOf(g))) {
      cpuMs[name] = ms - (before[i]?.[name] ?? 0);
    }
  });
  const machineAfter = machineTicks();
  const total = machineAfter.total - machineBefore.total;
  const idle = machineAfter.idle - machineBefore.idle;
  const machineBusy = total > 0 ? 1 - idle / total : 0;
  return { result, usage: { wallMs, cpuMs, machineBusy, machineMs: (total - idle) * 10 } };
}

/** A group's CPU ms so far under its name, or under its name and each process's. */
function readingOf(group: ProcessGroup): Record<string, number> {
  const byProcess = group.cpuMsByProcess?.();
  if (byProcess === undefined) return { [group.name]: group.cpuMs() };
  const parts = Object.values(byProcess);
  if (parts.length < 2) return { [group.name]: parts[0] ?? 0 };
  return Object.fromEntries(
    Object.entries(byProcess).map(([name, ms]) => [`${group.name} ${name}`, ms]),
  );
}

/**
 * User and system time of one process (all its threads), in ms, from /proc/PID/stat: fields
 * utime (14) and stime (15) after the command name (proc(5)); clock ticks are 10 ms on Linux
 * (USER_HZ 100). Throws for a process that is gone.
 */
export function processCpuTimes(pid: number): {
  readonly userMs: number;
  readonly systemMs: number;
} {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userMs: Number(fields[11]) * 10, systemMs: Number(fields[12]) * 10 };
}

/** user + system time of one process (all its threads), in ms. */
export function processCpuMs(pid: number): number {
  const { userMs, systemMs } = processCpuTimes(pid);
  return userMs + systemMs;
}

/** What a process has cost so far, all its live threads together (proc(5)). */
export interface SchedulerCounts {
  /** CPU time in user and in kernel mode, ms (10 ms ticks). */
  readonly userMs: number;
  readonly systemMs: number;
  /** Times a thread gave up its CPU to wait (voluntary_ctxt_switches): each is a wake-up later. */
  readonly sleeps: number;
  /** Times a thread that could still run had to leave its CPU (nonvoluntary_ctxt_switches). */
  readonly preemptions: number;
}

export const noCounts: SchedulerCounts = { userMs: 0, systemMs: 0, sleeps: 0, preemptions: 0 };

/**
 * A process's CPU time by mode and its threads' context switches, from /proc/PID/stat and each
 * /proc/PID/task/TID/status; zeros for a process that is gone. A thread that exits takes its
 * switches with it: compare stretches without such exits.
 */
export function schedulerCounts(pid: number): SchedulerCounts {
  try {
    const { userMs, systemMs } = processCpuTimes(pid);
    let sleeps = 0;
    let preemptions = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
        sleeps += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        preemptions += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      } catch {
        // the thread ended meanwhile
      }
    }
    return { userMs, systemMs, sleeps, preemptions };
  } catch {
    return noCounts;
  }
}

/** `a` + `sign` × `b`, field by field. */
export function addCounts(a: SchedulerCounts, b: SchedulerCounts, sign = 1): SchedulerCounts {
  return {
    userMs: a.userMs + sign * b.userMs,
    systemMs: a.systemMs + sign * b.systemMs,
    sleeps: a.sleeps + sign * b.sleeps,
    preemptions: a.preemptions + sign * b.preemptions,
  };
}

/** The process and all its descendants, through each process's parent in /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirNumeric()) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), entry]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

function readdirNumeric(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
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
