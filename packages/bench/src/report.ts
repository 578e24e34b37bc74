import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { nodeHasReusePort } from '@homing/server';
import { totalCpuMs, type Usage } from './cpu.js';
import type { TransferRun } from './mailbox.js';
import type { Side } from './turns.js';

export function systemLine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'an unknown CPU';
  return `homing benchmark (IMAP, POP3, SMTP; beside nginx and a bare pipe) on ${model}, ${cores.length} cores, Node ${process.version}`;
}

export function dovecotVersion(): string {
  try {
    return execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim().split(' ')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

/** `nginx/1.22.1`: what `nginx -v` writes (to stderr). */
export function nginxVersion(): string {
  const result = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return /nginx\/\S+/.exec(`${result.stdout}${result.stderr}`)?.[0] ?? 'nginx';
}

/** `1 process`, `3 processes`. */
export function processCount(count: number): string {
  return `${count} process${count === 1 ? '' : 'es'}`;
}

/**
 * How a homing node with `workers` runs on Node.js `version`: one process, or a primary and its
 * workers, and how those accept connections (homing's server: SO_REUSEPORT from Node 22.12 and
 * 23.1, the primary's shared socket before).
 */
export function homingProcesses(workers: number, version: string): string {
  if (workers === 1) return '1 process (workers: 1, the one CPU it may use)';
  const accept = nodeHasReusePort(version)
    ? 'each accepting on a socket of its own (SO_REUSEPORT)'
    : "each accepting on the primary's socket (Node before 22.12 has no reusePort)";
  return (
    `${processCount(workers + 1)}: a primary that forks and watches, and workers: ${workers} ` +
    `(one per CPU it may use, as workers: auto), ${accept}`
  );
}

/** A rate with about three significant digits, no scientific notation. */
export function rate(value: number): string {
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function ratio(through: number, direct: number): string {
  return (through / direct).toFixed(2);
}

/** What the two columns are called: `direct` and `homing` unless a row says more. */
export interface SideNames {
  readonly direct: string;
  readonly homing: string;
}

/** One table row: label, direct, homing, ratio, then notes. */
export function row(
  label: string,
  direct: number,
  homing: number,
  notes: string[] = [],
  names: SideNames = { direct: 'direct', homing: 'homing' },
): string {
  const cells = [
    label.padEnd(19),
    `${names.direct} ${rate(direct).padStart(6)}`,
    `${names.homing} ${rate(homing).padStart(6)}`,
    `ratio ${ratio(homing, direct)}`,
    ...notes,
  ];
  return cells.join('   ');
}

export function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  if (sorted.length % 2 === 1) return sorted[middle] as number;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function mebibytes(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** One side's figures at one measurement. */
export interface SideFigures {
  /** Logins per second, MB/s... */
  readonly rate: number;
  readonly usage: Usage;
  /** What the CPU is divided by: logins, MB relayed. */
  readonly operations: number;
  readonly p50Ms?: number | undefined;
}

/**
 * Lines for one measurement of several sides: each side's rate and its ratio to direct; the
 * median latency when there is one; each proxy's CPU per operation, its processes apart when
 * it has several (nginx and its auth_http service); how busy the machine's CPUs were, and the
 * whole machine's CPU per operation.
 */
export function sideLines(
  label: string,
  unit: string,
  sides: readonly Side[],
  figures: Readonly<Partial<Record<Side, SideFigures>>>,
  notes: readonly string[] = [],
): string[] {
  const present = sides.filter((side) => figures[side] !== undefined);
  const of = (side: Side) => figures[side] as SideFigures;
  const direct = figures.direct?.rate;
  const rates = present.map((side) => {
    const ratioText =
      side === 'direct' || direct === undefined ? '' : ` (${ratio(of(side).rate, direct)})`;
    return `${side} ${rate(of(side).rate)}${ratioText}`;
  });
  const lines = [`${label.padEnd(31)}${rates.join(' · ')}`];
  if (present.some((side) => of(side).p50Ms !== undefined)) {
    const p50 = present.map((side) => `${side} ${(of(side).p50Ms ?? Number.NaN).toFixed(1)}`);
    lines.push(`  p50 ms: ${p50.join(' · ')}`);
  }
  const cpu = present
    .filter((side) => side !== 'direct')
    .map((side) => {
      const { usage, operations } = of(side);
      const per = (ms: number) => (ms / operations).toFixed(2);
      const parts = Object.entries(usage.cpuMs);
      // homing's `homing primary`, `homing w1`: the side's name once is enough.
      const partName = (name: string) =>
        name.startsWith(`${side} `) ? name.slice(side.length + 1) : name;
      const detail =
        parts.length > 1
          ? ` (${parts.map(([name, ms]) => `${partName(name)} ${per(ms)}`).join(' + ')})`
          : '';
      return `${side} ${per(totalCpuMs(usage))}${detail}`;
    });
  const busy = present.map((side) => `${side} ${percent(of(side).usage.machineBusy)}`);
  lines.push(`  proxy CPU ms/${unit}: ${cpu.join(' · ')}; CPUs busy ${busy.join(' · ')}`);
  const machine = present.map(
    (side) => `${side} ${(of(side).usage.machineMs / of(side).operations).toFixed(2)}`,
  );
  lines.push(`  machine CPU ms/${unit}: ${machine.join(' · ')}`);
  if (notes.length > 0) lines.push(`  ${notes.join('; ')}`);
  return lines;
}

/** The median MB/s of transfers (MB = 10^6 bytes). */
export function medianMBps(runs: readonly TransferRun[]): number {
  return median(runs.map((r) => r.bytes / 1e6 / r.seconds));
}

/** MB relayed in all the runs. */
export function megabytes(runs: readonly TransferRun[]): number {
  return runs.reduce((sum, r) => sum + r.bytes, 0) / 1e6;
}
