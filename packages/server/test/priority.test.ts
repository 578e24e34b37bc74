import { describe, expect, it } from 'vitest';
import { applyPriority } from '../src/priority.js';

describe('applyPriority', () => {
  it('sets the value on every thread it is given', () => {
    const set: [number, number][] = [];
    const refused = applyPriority(
      -5,
      (id, value) => set.push([id, value]),
      () => [101, 102, 107],
    );
    expect(refused).toBeUndefined();
    expect(set).toEqual([
      [101, -5],
      [102, -5],
      [107, -5],
    ]);
  });

  it('says why when the system refuses', () => {
    const refused = applyPriority(
      -5,
      () => {
        throw new Error('A system error occurred: uv_os_setpriority returned EACCES');
      },
      () => [101],
    );
    expect(refused).toMatch(/EACCES/);
  });
});
