import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

/** A change of where a homing pool's new connections go, as its primary logged it. */
export interface PoolChange {
  /** When it was logged, ms since the epoch (pino's `time`). */
  readonly atMs: number;
  /** true: one worker takes new connections; false: they are spread over the workers. */
  readonly fill: boolean;
  readonly reason: string;
}

const fillMessage = 'pool: one worker takes new connections';
const spreadMessage = 'pool: new connections spread';

/** The pool changes in a homing log (JSON lines), in the order logged; other lines are skipped. */
export function poolChanges(log: string): PoolChange[] {
  const changes: PoolChange[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"pool: ')) continue;
    let entry: { time?: unknown; msg?: unknown; reason?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.time !== 'number') continue;
    if (entry.msg !== fillMessage && entry.msg !== spreadMessage) continue;
    const reason = typeof entry.reason === 'string' ? entry.reason : '';
    changes.push({ atMs: entry.time, fill: entry.msg === fillMessage, reason });
  }
  return changes;
}

/**
 * What a pool did between `fromMs` and `toMs`, for a row's notes: the changes within, each with
 * its time into the stretch, or the one state it kept throughout; undefined for a log with no
 * pool lines (one process, or a pool that never decided).
 */
export function poolNote(
  changes: readonly PoolChange[],
  fromMs: number,
  toMs: number,
): string | undefined {
  if (changes.length === 0) return undefined;
  const before = changes.filter((c) => c.atMs < fromMs).at(-1);
  const within = changes.filter((c) => c.atMs >= fromMs && c.atMs <= toMs);
  const state = (fill: boolean) => (fill ? 'one worker' : 'spread');
  if (within.length === 0) {
    if (!before) return undefined;
    return `homing's new connections: ${before.fill ? 'to one worker' : 'spread over the workers'} throughout`;
  }
  const steps = within.map(
    (c) => `${state(c.fill)} at ${((c.atMs - fromMs) / 1000).toFixed(1)} s (${c.reason})`,
  );
  const start = before ? state(before.fill) : 'not yet decided';
  return `homing's new connections: ${start}, then ${steps.join(', then ')}`;
}

/**
 * The pool changes of a log file that grows by two lines a session: each read takes only what
 * was added since the last one, and whole lines only.
 */
export class PoolLog {
  readonly #changes: PoolChange[] = [];
  #read = 0;
  /** The start of a line still being written (or a character cut in two): read with its rest. */
  #rest = Buffer.alloc(0);

  constructor(readonly path: string) {}

  read(): readonly PoolChange[] {
    if (!existsSync(this.path)) return this.#changes;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.#read) return this.#changes;
      const added = Buffer.alloc(size - this.#read);
      const got = readSync(fd, added, 0, added.length, this.#read);
      this.#read += got;
      const bytes = Buffer.concat([this.#rest, added.subarray(0, got)]);
      const end = bytes.lastIndexOf(0x0a) + 1;
      this.#rest = bytes.subarray(end);
      this.#changes.push(...poolChanges(bytes.subarray(0, end).toString('utf8')));
      return this.#changes;
    } finally {
      closeSync(fd);
    }
  }
}
