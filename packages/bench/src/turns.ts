import { addUsage, measured, noUsage, type Usage } from './cpu.js';
import type { HomingProcess } from './homing-process.js';

/** Straight to Dovecot, or through homing. */
export type Side = 'direct' | 'homing';

/**
 * Each side's time at one measurement split in four, in turns A B B A B A A B, so that a drift
 * or a burst of other load on the machine hits both sides alike.
 */
export const sliceTurns: readonly Side[] = [
  'direct',
  'homing',
  'homing',
  'direct',
  'homing',
  'direct',
  'direct',
  'homing',
];
export const slicesPerSide = sliceTurns.length / 2;

/** `runs` runs of each side in pairs, the pairs alternating which side goes first. */
export function pairTurns(runs: number): Side[] {
  return Array.from({ length: runs }, (_, i): Side[] =>
    i % 2 === 0 ? ['direct', 'homing'] : ['homing', 'direct'],
  ).flat();
}

export interface TurnResults<T> {
  /** Each side's results in the order they were taken. */
  readonly results: Record<Side, T[]>;
  /** What each side's runs cost together. */
  readonly usage: Record<Side, Usage>;
}

/**
 * Runs `work` for each side in `turns`, each run measured (homing's CPU, the machine's), with a
 * pause of `pauseMs` before each; a homing that has exited is an error after every run.
 */
export async function takeTurns<T>(
  homing: HomingProcess,
  turns: readonly Side[],
  work: (side: Side) => Promise<T>,
  pauseMs = 0,
): Promise<TurnResults<T>> {
  const results: Record<Side, T[]> = { direct: [], homing: [] };
  const usage: Record<Side, Usage> = { direct: noUsage, homing: noUsage };
  for (const side of turns) {
    if (pauseMs > 0) await sleep(pauseMs);
    const run = await measured(homing, () => work(side));
    homing.assertRunning();
    results[side].push(run.result);
    usage[side] = addUsage(usage[side], run.usage);
  }
  return { results, usage };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
