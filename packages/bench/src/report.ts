import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import type { TransferRun } from './mailbox.js';

export function systemLine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'an unknown CPU';
  return `homing benchmark (IMAP, POP3, SMTP) on ${model}, ${cores.length} cores, Node ${process.version}`;
}

export function dovecotVersion(): string {
  try {
    return execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim().split(' ')[0] ?? '';
  } catch {
    return 'unknown';
  }
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

/** The median MB/s of each side's transfers (MB = 10^6 bytes), as a row. */
export function throughputRow(
  label: string,
  direct: readonly TransferRun[],
  homing: readonly TransferRun[],
  notes: string[],
): string {
  const mbps = (runs: readonly TransferRun[]) => median(runs.map((r) => r.bytes / 1e6 / r.seconds));
  return row(label, mbps(direct), mbps(homing), notes);
}

/** homing's CPU time per MB it relayed. */
export function cpuPerMB(cpuMs: number, runs: readonly TransferRun[]): string {
  const relayedMB = runs.reduce((sum, r) => sum + r.bytes, 0) / 1e6;
  return (cpuMs / relayedMB).toFixed(2);
}
