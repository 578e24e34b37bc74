import { describe, expect, it } from 'vitest';
import { Admission } from '../src/admission.js';

describe('Admission', () => {
  it('takes clients up to its capacity, counts the refused, and frees a place once', () => {
    const admission = new Admission(2);
    const first = admission.enter();
    const second = admission.enter();
    expect(first && second).toBeTruthy();
    expect(admission.full).toBe(true);
    expect(admission.enter()).toBeUndefined();
    expect(admission.refused).toBe(1);
    first?.();
    first?.();
    expect(admission.open).toBe(1);
    expect(admission.enter()).toBeTypeOf('function');
    expect(admission.enter()).toBeUndefined();
    expect(admission.refused).toBe(2);
  });

  it('follows a lowered capacity without closing anyone', () => {
    const admission = new Admission();
    admission.enter();
    admission.enter();
    admission.capacity = 1;
    expect(admission.open).toBe(2);
    expect(admission.enter()).toBeUndefined();
  });
});
