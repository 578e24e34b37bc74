import { describe, expect, it } from 'vitest';
import { MemoryJournal } from '../src/journal/memory-journal.js';

const day = 86_400_000;

function journal(maxEntries = 10) {
  let now = 1_000_000;
  const j = new MemoryJournal({ retentionMs: 5 * day, maxEntries, now: () => now });
  return { j, later: (ms: number) => (now += ms) };
}

describe('MemoryJournal', () => {
  it('knows nothing of a message it was not told of', async () => {
    const { j } = journal();
    expect((await j.delivered('f1')).size).toBe(0);
  });

  it('remembers delivered recipients and adds those of a later attempt', async () => {
    const { j } = journal();
    await j.record('f1', new Map([['a@x', '250 2.0.0 q1']]));
    await j.record('f1', new Map([['b@x', '250 2.0.0 q2']]));
    expect([...(await j.delivered('f1'))]).toEqual([
      ['a@x', '250 2.0.0 q1'],
      ['b@x', '250 2.0.0 q2'],
    ]);
    expect((await j.delivered('f2')).size).toBe(0);
  });

  it('forgets a message after its retention window, counted from its latest attempt', async () => {
    const { j, later } = journal();
    await j.record('f1', new Map([['a@x', 'q1']]));
    later(4 * day);
    await j.record('f1', new Map([['b@x', 'q2']]));
    later(4 * day);
    expect((await j.delivered('f1')).size).toBe(2);
    later(day + 1);
    expect((await j.delivered('f1')).size).toBe(0);
    expect(j.size).toBe(0);
  });

  it('keeps at most its bound of messages, dropping the oldest', async () => {
    const { j } = journal(3);
    for (let i = 0; i < 5; i += 1) await j.record(`f${i}`, new Map([['a@x', 'q']]));
    expect(j.size).toBe(3);
    expect((await j.delivered('f0')).size).toBe(0);
    expect((await j.delivered('f1')).size).toBe(0);
    expect((await j.delivered('f4')).size).toBe(1);
  });

  it('writes nothing for an attempt that delivered to nobody', async () => {
    const { j } = journal();
    await j.record('f1', new Map());
    expect(j.size).toBe(0);
  });
});
