import { addUsage, measured, noUsage, type ProcessGroup, type Usage } from './cpu.js';

/**
 * Straight to Dovecot, or through one of the proxies in front of it. `homing` is the homing node
 * measured, with as many processes serving as nginx has workers; `homing/1` the same node with
 * one process, in the login rows only (when the two differ). `pipe` is the bare Node pipe in one
 * process; `pipes` the same pipe in as many processes as homing's workers, each accepting on a
 * socket of its own, in the login rows only: the floor for a pool of processes. `haproxy` is
 * HAProxy passing every session to the one Dovecot, in the plaintext transfer rows only.
 */
export type Side = 'direct' | 'nginx' | 'homing' | 'homing/1' | 'pipe' | 'pipes' | 'haproxy';

/** Every side, in the order of a row. */
export const allSides: readonly Side[] = [
  'direct',
  'nginx',
  'homing',
  'homing/1',
  'pipe',
  'pipes',
  'haproxy',
];

/** The sides of most rows: direct and one of each proxy. */
export const comparedSides: readonly Side[] = ['direct', 'nginx', 'homing', 'pipe'];

/**
 * The sides of the login rows: the compared ones and, when the measured homing serves with more
 * than one process, homing with one beside it, and the pipe in as many processes as homing's
 * (when Node can give each its own listening socket: `pipesServe`).
 */
export function loginSides(homingWorkers: number, pipesServe: boolean): readonly Side[] {
  if (homingWorkers === 1) return comparedSides;
  const sides = allSides.filter((side) => side !== 'haproxy');
  return pipesServe ? sides : sides.filter((side) => side !== 'pipes');
}

/** The sides of the plaintext FETCH and RETR rows: the compared ones and HAProxy's splice. */
export const transferSides: readonly Side[] = [...comparedSides, 'haproxy'];

/** Each side's time at one measurement is split in this many slices, taken in turns. */
export const slicesPerSide = 4;

/**
 * One round per slice, each round every side once: the order turns by one every other round and
 * runs backwards every other round (for two sides, A B B A B A A B), so that a drift or a burst
 * of other load on the machine hits every side alike.
 */
export function sliceTurns(sides: readonly Side[]): Side[] {
  return roundTurns(slicesPerSide, sides);
}

/** `rounds` rounds of every side once, in the order sliceTurns uses. */
export function roundTurns<S>(rounds: number, sides: readonly S[]): S[] {
  return Array.from({ length: rounds }, (_, round) => {
    const shift = Math.floor(round / 2) % sides.length;
    const order = [...sides.slice(shift), ...sides.slice(0, shift)];
    return round % 2 === 0 ? order : order.reverse();
  }).flat();
}

export interface TurnResults<T> {
  /** Each side's results in the order they were taken. */
  readonly results: Record<Side, T[]>;
  /** What each side's runs cost together. */
  readonly usage: Record<Side, Usage>;
}

/**
 * Runs `work` for each side in `turns`, each run measured (the CPU of that side's own processes,
 * the machine's), with a pause of `pauseMs` before each; a process of the side that has exited
 * is an error after every run.
 */
export async function takeTurns<T>(
  processes: Readonly<Record<Side, readonly ProcessGroup[]>>,
  turns: readonly Side[],
  work: (side: Side) => Promise<T>,
  pauseMs = 0,
): Promise<TurnResults<T>> {
  const results = bySide((): T[] => []);
  const usage = bySide((): Usage => noUsage);
  for (const side of turns) {
    if (pauseMs > 0) await sleep(pauseMs);
    const run = await measured(processes[side], () => work(side));
    for (const group of processes[side]) group.assertRunning();
    results[side].push(run.result);
    usage[side] = addUsage(usage[side], run.usage);
  }
  return { results, usage };
}

/** A record of every side, each value made by `make`. */
export function bySide<T>(make: (side: Side) => T): Record<Side, T> {
  return Object.fromEntries(allSides.map((side) => [side, make(side)])) as Record<Side, T>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
