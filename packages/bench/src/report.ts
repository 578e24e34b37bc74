import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export function systemLine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'an unknown CPU';
  return `homing IMAP benchmark on ${model}, ${cores.length} cores, Node ${process.version}`;
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

/** One table row: label, direct, homing, ratio, then notes. */
export function row(label: string, direct: number, homing: number, notes: string[] = []): string {
  const cells = [
    label.padEnd(15),
    `direct ${rate(direct).padStart(6)}`,
    `homing ${rate(homing).padStart(6)}`,
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
