import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolLog, poolChanges, poolNote } from '../src/pool-log.js';

const line = (time: number, msg: string, reason = 'why') =>
  JSON.stringify({ level: 30, time, node: 'n', reason, msg });
const fill = 'pool: one worker takes new connections';
const spread = 'pool: new connections spread';

describe('poolChanges', () => {
  it('takes the pool lines of a homing log in order and skips every other line', () => {
    const log = [
      line(1000, fill, 'the pool is 6% busy: one worker can take it'),
      line(1500, 'logged in'),
      'homing ready',
      '{"msg":"pool: new connections spread"', // cut short
      JSON.stringify({ time: 'soon', msg: spread }),
      JSON.stringify({ time: 1600, msg: 'pool: something else' }),
      line(2000, spread, 'a worker is 85% busy and 0.6 CPUs idle'),
      JSON.stringify({ time: 2500, msg: fill }),
      '',
    ].join('\n');
    expect(poolChanges(log)).toEqual([
      { atMs: 1000, fill: true, reason: 'the pool is 6% busy: one worker can take it' },
      { atMs: 2000, fill: false, reason: 'a worker is 85% busy and 0.6 CPUs idle' },
      { atMs: 2500, fill: true, reason: '' },
    ]);
  });
});

describe('poolNote', () => {
  const changes = [
    { atMs: 1000, fill: true, reason: 'idle' },
    { atMs: 12_500, fill: false, reason: 'busy' },
    { atMs: 30_000, fill: true, reason: 'quiet' },
  ];

  it.each([
    ['no pool lines', [], 0, 5000, undefined],
    ['a stretch before any decision', changes, 0, 500, undefined],
    [
      'one worker throughout',
      changes,
      2000,
      12_000,
      "homing's new connections: to one worker throughout",
    ],
    [
      'spread throughout',
      changes,
      13_000,
      29_000,
      "homing's new connections: spread over the workers throughout",
    ],
    [
      'a spread within the stretch',
      changes,
      10_000,
      20_000,
      "homing's new connections: one worker, then spread at 2.5 s (busy)",
    ],
    [
      'a spread and a fill within the stretch',
      changes,
      10_000,
      40_000,
      "homing's new connections: one worker, then spread at 2.5 s (busy), then one worker at 20.0 s (quiet)",
    ],
    [
      'the first decision within the stretch',
      changes,
      0,
      5000,
      "homing's new connections: not yet decided, then one worker at 1.0 s (idle)",
    ],
  ])('%s', (_name, list, from, to, expected) => {
    expect(poolNote(list, from, to)).toBe(expected);
  });
});

describe('PoolLog', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads what the log gained since the last read, a line and a character cut in two included', () => {
    dir = mkdtempSync(join(tmpdir(), 'pool-log-'));
    const path = join(dir, 'homing.log');
    const log = new PoolLog(path);
    expect(log.read()).toEqual([]);
    const spreadLine = Buffer.from(`${line(2000, spread, 'busy → spread')}\n`);
    // The arrow is three bytes in UTF-8: cut after its first.
    const cut = spreadLine.indexOf('→') + 1;
    appendFileSync(path, `${line(1000, fill, 'idle')}\n${line(1500, 'logged in')}\n`);
    appendFileSync(path, spreadLine.subarray(0, cut));
    expect(log.read()).toEqual([{ atMs: 1000, fill: true, reason: 'idle' }]);
    appendFileSync(path, spreadLine.subarray(cut));
    expect(log.read()).toEqual([
      { atMs: 1000, fill: true, reason: 'idle' },
      { atMs: 2000, fill: false, reason: 'busy → spread' },
    ]);
    expect(log.read()).toHaveLength(2);
  });
});
