/**
 * Where the bench's processes run. `shared` (the default): everything on every CPU, so homing's
 * CPU comes out of Dovecot's. `split`: the load generator, slapd and Dovecot on CPU 0 and homing
 * alone on the last CPU, as a homing node on its own machine in front of the mailbox servers:
 * the direct side then has CPU 0 only, and so has everything but homing on the other side.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

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

/** homing, every thread of it, to the last CPU. */
export function pinHoming(placement: Placement, pid: number): void {
  if (placement === 'shared') return;
  pin(pid, cpus().length - 1);
}

export function placementLine(placement: Placement): string {
  return placement === 'shared'
    ? 'CPUs shared: load generator, slapd, Dovecot and homing on all of them (BENCH_CPUS=split puts homing on a CPU of its own)'
    : `CPUs split: load generator, slapd and Dovecot on CPU 0, homing alone on CPU ${cpus().length - 1}`;
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
