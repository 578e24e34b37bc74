import { describe, expect, it } from 'vitest';
import { priorityFrom, priorityPrefix } from '../src/placement.js';

describe('BENCH_PRIORITY', () => {
  it('runs the proxies at -5 unless told, and every process at 0 when told 0', () => {
    expect(priorityFrom(undefined)).toBe(-5);
    expect(priorityFrom(' ')).toBe(-5);
    expect(priorityFrom('0')).toBe(0);
    expect(priorityFrom('-10')).toBe(-10);
    expect(priorityPrefix(-5)).toEqual(['nice', '-n', '-5']);
    expect(priorityPrefix(0)).toEqual([]);
  });

  it.each(['-21', '20', '1.5', 'high', '-5x'])('refuses %j', (text) => {
    expect(() => priorityFrom(text)).toThrow(/BENCH_PRIORITY/);
  });
});
