import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SmtpBackend } from '../src/backend.js';
import { BackendPool } from '../src/backend-pool.js';

/** Enough of a connection for the pool: whether it is closed, and closing it. */
type Fake = SmtpBackend & { name: string; quits: number; closed: boolean };

function connection(name: string): Fake {
  const c = {
    name,
    closed: false,
    quits: 0,
    close() {
      c.closed = true;
      c.quits += 1;
    },
  };
  return c as unknown as Fake;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('BackendPool', () => {
  it('gives back the connection given last, for the same backend only', () => {
    const pool = new BackendPool({ maxIdlePerBackend: 4, idleTimeoutMs: 60_000 });
    const [a1, a2, b1] = [connection('a1'), connection('a2'), connection('b1')];
    pool.give('a', a1);
    pool.give('a', a2);
    pool.give('b', b1);
    expect(pool.take('a')).toBe(a2);
    expect(pool.take('a')).toBe(a1);
    expect(pool.take('a')).toBeUndefined();
    expect(pool.take('c')).toBeUndefined();
    expect(pool.take('b')).toBe(b1);
    pool.close();
  });

  it('skips connections the server closed while they waited', () => {
    const pool = new BackendPool({ maxIdlePerBackend: 4, idleTimeoutMs: 60_000 });
    const [a1, a2] = [connection('a1'), connection('a2')];
    pool.give('a', a1);
    pool.give('a', a2);
    a2.closed = true;
    expect(pool.take('a')).toBe(a1);
    expect(pool.size).toBe(0);
    pool.close();
  });

  it.each([
    ['a bound of 2', 2, 2],
    ['a bound of 0: nothing is kept', 0, 0],
  ])('keeps at most its bound per backend (%s) and closes the rest', (_name, bound, kept) => {
    const pool = new BackendPool({ maxIdlePerBackend: bound, idleTimeoutMs: 60_000 });
    const all = [connection('1'), connection('2'), connection('3')];
    for (const c of all) pool.give('a', c);
    expect(pool.size).toBe(kept);
    expect(all.filter((c) => c.quits === 1)).toHaveLength(3 - kept);
    pool.close();
  });

  it('takes no closed connection back', () => {
    const pool = new BackendPool({ maxIdlePerBackend: 4, idleTimeoutMs: 60_000 });
    const c = connection('a1');
    c.closed = true;
    pool.give('a', c);
    expect(pool.size).toBe(0);
  });

  it('closes connections idle past the timeout', () => {
    vi.useFakeTimers();
    const pool = new BackendPool({ maxIdlePerBackend: 4, idleTimeoutMs: 1000 });
    const old = connection('old');
    pool.give('a', old);
    vi.advanceTimersByTime(600);
    const young = connection('young');
    pool.give('a', young);
    vi.advanceTimersByTime(600);
    expect(old.quits).toBe(1);
    expect(young.quits).toBe(0);
    expect(pool.size).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(young.quits).toBe(1);
    expect(pool.size).toBe(0);
  });

  it('closes the idle connections of a backend marked down at its next sweep', () => {
    vi.useFakeTimers();
    const down = new Set<string>();
    const pool = new BackendPool({
      maxIdlePerBackend: 4,
      idleTimeoutMs: 1000,
      isDown: (key) => down.has(key),
    });
    const [a1, b1] = [connection('a1'), connection('b1')];
    pool.give('a', a1);
    pool.give('b', b1);
    down.add('a');
    vi.advanceTimersByTime(500);
    expect(a1.quits).toBe(1);
    expect(b1.quits).toBe(0);
    expect(pool.size).toBe(1);
    pool.close();
  });

  it('drops a failed backend and, once closed, keeps nothing more', () => {
    const pool = new BackendPool({ maxIdlePerBackend: 4, idleTimeoutMs: 60_000 });
    const [a1, b1, late] = [connection('a1'), connection('b1'), connection('late')];
    pool.give('a', a1);
    pool.give('b', b1);
    pool.drop('a');
    expect(a1.quits).toBe(1);
    expect(pool.take('a')).toBeUndefined();
    pool.close();
    expect(b1.quits).toBe(1);
    pool.give('b', late);
    expect(late.quits).toBe(1);
    expect(pool.size).toBe(0);
  });
});
