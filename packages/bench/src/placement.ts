/**
 * Where the bench's processes run. `shared` (the default): everything on every CPU, so a
 * proxy's CPU comes out of Dovecot's. `split`: the load generator, slapd and Dovecot on CPU 0
 * and each proxy (homing; nginx and its auth_http service; the pipe) on the last CPU, as a
 * proxy on its own machine in front of the mailbox servers: the direct side then has CPU 0 only,
 * and so has everything but the proxy on the other sides. Only one side runs at a time.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { processTree } from './cpu.js';

export type Placement = 'shared' | 'split';

export function placementFrom(text: string | undefined): Placement {
  if (text === undefined || text === '' || text === 'shared') return 'shared';
  if (text === 'split') return 'split';
  throw new Error(`BENCH_CPUS must be shared or split, not ${JSON.stringify(text)}`);
}

/** Before anything starts: the bench and every process it starts from now on go to CPU 0. */
export function pinBench(placement: Placement): void {
  if (placement === 'shared') return;
  if (cpus().length < 2) throw new Error('BENCH_CPUS=split needs at least two CPUs');
  pin(process.pid, 0);
}

/** A running proxy, every thread of it and of its children, to the last CPU. */
export function pinProcessTree(placement: Placement, pid: number): void {
  if (placement === 'shared') return;
  for (const each of processTree(pid)) pin(each, cpus().length - 1);
}

/** What to start a proxy through so that it and its children run on the last CPU (split). */
export function pinnedPrefix(placement: Placement): string[] {
  return placement === 'shared' ? [] : ['taskset', '--cpu-list', String(cpus().length - 1)];
}

/**
 * The worker processes of each proxy that has them, nginx's and the measured homing's: one per
 * CPU it may use, as an operator gives them (`worker_processes auto`, `workers: auto`).
 */
export function proxyWorkers(placement: Placement): number {
  return placement === 'shared' ? cpus().length : 1;
}

export function placementLine(placement: Placement): string {
  return placement === 'shared'
    ? 'CPUs shared: load generator, slapd, Dovecot and the proxies on all of them (BENCH_CPUS=split puts each proxy on a CPU of its own)'
    : `CPUs split: load generator, slapd and Dovecot on CPU 0, the proxy being measured alone on CPU ${cpus().length - 1}`;
}

/**
 * The nice value of the proxies (BENCH_PRIORITY, -5 by default), the same for each: homing's
 * `process_priority`, and nginx, its auth_http service and the pipes started through `nice`.
 * Dovecot, slapd and the load generator stay at 0. A proxy that shares its cores with the
 * mailbox server is run ahead of it (deploy/systemd's unit gives homing Nice=-5): on shared
 * cores a proxy waiting for a CPU holds up both the client and Dovecot.
 */
export function priorityFrom(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return -5;
  const value = Number(text);
  if (!Number.isInteger(value) || value < -20 || value > 19) {
    throw new Error(
      `BENCH_PRIORITY must be a nice value from -20 to 19, not ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** What to start a proxy other than homing through so that it runs at `priority`. */
export function priorityPrefix(priority: number): string[] {
  return priority === 0 ? [] : ['nice', '-n', String(priority)];
}

export function priorityLine(priority: number): string {
  return priority === 0
    ? 'priority: every process at nice 0 (BENCH_PRIORITY=-5 runs the proxies ahead of Dovecot)'
    : `priority: the proxies at nice ${priority}, each alike (homing: process_priority: ${priority}; nginx, its auth_http service and the pipes: nice -n ${priority}); Dovecot, slapd and the load generator at 0 (BENCH_PRIORITY=0: every process at 0)`;
}

function pin(pid: number, cpu: number): void {
  try {
    execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', String(cpu), String(pid)], {
      stdio: 'ignore',
    });
  } catch (error) {
    throw new Error(
      `taskset could not pin process ${pid} to CPU ${cpu} (util-linux): ${String(error)}`,
    );
  }
}
