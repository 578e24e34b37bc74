import { describe, expect, it } from 'vitest';
import { LookupCache } from '../src/cache.js';
import { DirectoryError } from '../src/errors.js';

interface User {
  home: string;
}

/** A source whose answers and failures the test controls, counting queries per key. */
function fakeSource(data: Record<string, User>) {
  const state = { down: false, queries: new Map<string, number>() };
  const load = async (key: string) => {
    state.queries.set(key, (state.queries.get(key) ?? 0) + 1);
    await Promise.resolve();
    if (state.down) throw new DirectoryError('UNAVAILABLE', 'source down');
    return data[key];
  };
  return { state, load };
}

function setup(data: Record<string, User> = { alice: { home: 'a' }, bob: { home: 'b' } }) {
  const clock = { now: 0 };
  const source = fakeSource(data);
  const cache = new LookupCache<User>(
    { maxEntries: 3, ttlMs: 1000, negativeTtlMs: 100, staleIfErrorMs: 5000, now: () => clock.now },
    source.load,
  );
  return { clock, source, cache };
}

describe('LookupCache', () => {
  it('serves a found user from cache until its TTL, then asks the source again', async () => {
    const { clock, source, cache } = setup();
    expect((await cache.get('alice')).outcome).toBe('miss');
    clock.now = 999;
    expect(await cache.get('alice')).toEqual({ value: { home: 'a' }, outcome: 'hit', ageMs: 999 });
    clock.now = 1000;
    expect((await cache.get('alice')).outcome).toBe('miss');
    expect(source.state.queries.get('alice')).toBe(2);
  });

  it('remembers an unknown user for the shorter negative TTL', async () => {
    const { clock, source, cache } = setup();
    expect((await cache.get('nobody')).value).toBeUndefined();
    clock.now = 99;
    expect((await cache.get('nobody')).outcome).toBe('negative-hit');
    clock.now = 100;
    expect((await cache.get('nobody')).outcome).toBe('miss');
    expect(source.state.queries.get('nobody')).toBe(2);
    expect(cache.counters.negativeHits).toBe(1);
  });

  it('serves a stale found user while the source fails, within the window only', async () => {
    const { clock, source, cache } = setup();
    await cache.get('alice');
    source.state.down = true;
    clock.now = 5999;
    expect(await cache.get('alice')).toEqual({
      value: { home: 'a' },
      outcome: 'stale',
      ageMs: 5999,
    });
    expect(cache.counters.staleServed).toBe(1);
    expect(cache.counters.errors).toBe(1);
    clock.now = 6000;
    await expect(cache.get('alice')).rejects.toThrow('source down');
  });

  it('never serves a stale "no such user" when the source fails', async () => {
    const { clock, source, cache } = setup();
    await cache.get('nobody');
    source.state.down = true;
    clock.now = 150;
    await expect(cache.get('nobody')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('fails when the source fails and nothing is cached', async () => {
    const { source, cache } = setup();
    source.state.down = true;
    await expect(cache.get('alice')).rejects.toBeInstanceOf(DirectoryError);
  });

  it('recovers when the source comes back', async () => {
    const { clock, source, cache } = setup();
    await cache.get('alice');
    source.state.down = true;
    clock.now = 2000;
    expect((await cache.get('alice')).outcome).toBe('stale');
    source.state.down = false;
    expect((await cache.get('alice')).outcome).toBe('miss');
    expect((await cache.get('alice')).outcome).toBe('hit');
  });

  it('makes one query for many concurrent misses of one key', async () => {
    const { source, cache } = setup();
    const results = await Promise.all(Array.from({ length: 1000 }, () => cache.get('alice')));
    expect(source.state.queries.get('alice')).toBe(1);
    expect(results.every((r) => r.value?.home === 'a')).toBe(true);
    expect(cache.counters.coalesced).toBe(999);
  });

  it('shares a failure among concurrent misses without caching it', async () => {
    const { source, cache } = setup();
    source.state.down = true;
    const settled = await Promise.allSettled([cache.get('bob'), cache.get('bob')]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(source.state.queries.get('bob')).toBe(1);
    source.state.down = false;
    expect((await cache.get('bob')).outcome).toBe('miss');
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const { source, cache } = setup({
      a: { home: '1' },
      b: { home: '2' },
      c: { home: '3' },
      d: { home: '4' },
    });
    for (const key of ['a', 'b', 'c']) await cache.get(key);
    await cache.get('a'); // a is now the most recently used
    await cache.get('d'); // evicts b
    expect(cache.size).toBe(3);
    expect((await cache.get('a')).outcome).toBe('hit');
    expect((await cache.get('b')).outcome).toBe('miss');
    expect(source.state.queries.get('b')).toBe(2);
  });

  it('forgets one key on invalidate and everything on clear', async () => {
    const { cache } = setup();
    await cache.get('alice');
    await cache.get('bob');
    cache.invalidate('alice');
    expect((await cache.get('alice')).outcome).toBe('miss');
    expect((await cache.get('bob')).outcome).toBe('hit');
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('lets a caller give up without cancelling the shared query', async () => {
    const { source, cache } = setup();
    const controller = new AbortController();
    const impatient = cache.get('alice', controller.signal);
    const patient = cache.get('alice');
    controller.abort();
    await expect(impatient).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await patient).value).toEqual({ home: 'a' });
    expect(source.state.queries.get('alice')).toBe(1);
  });

  it('a caller with a timeout stops waiting for a slow source; the query goes on for others', async () => {
    let answer: (user: User) => void = () => {};
    const cache = new LookupCache<User>(
      { maxEntries: 3, ttlMs: 1000, negativeTtlMs: 100, staleIfErrorMs: 0 },
      () => new Promise<User>((resolve) => (answer = resolve)),
    );
    const patient = cache.get('alice');
    await expect(cache.get('alice', undefined, 20)).rejects.toMatchObject({ code: 'ABORTED' });
    answer({ home: 'a' });
    expect((await patient).value).toEqual({ home: 'a' });
    // Cached now: a timeout of 0 would fire at once, but a hit never waits.
    expect(await cache.get('alice', undefined, 0)).toMatchObject({ outcome: 'hit' });
  });

  it('counts hits and misses and records source latency', async () => {
    const { cache } = setup();
    await cache.get('alice');
    await cache.get('alice');
    expect(cache.counters).toMatchObject({ hits: 1, misses: 1 });
    expect(cache.sourceLatency.count).toBe(1);
    // A look ahead (POP3's USER) answers from the cache without counting.
    expect(cache.getFresh('alice', false)?.value).toEqual({ home: 'a' });
    expect(cache.counters).toMatchObject({ hits: 1, misses: 1 });
    expect(cache.getFresh('alice')?.value).toEqual({ home: 'a' });
    expect(cache.counters).toMatchObject({ hits: 2, misses: 1 });
  });

  it('treats a TTL of zero as "always ask the source"', async () => {
    const source = fakeSource({ alice: { home: 'a' } });
    const cache = new LookupCache<User>(
      { maxEntries: 10, ttlMs: 0, negativeTtlMs: 0, staleIfErrorMs: 0, now: () => 0 },
      source.load,
    );
    await cache.get('alice');
    await cache.get('alice');
    expect(source.state.queries.get('alice')).toBe(2);
  });
});

describe('LookupCache while the source is failing', () => {
  it('serves stale entries at once for sourceRetryMs after a failure, then asks again', async () => {
    const clock = { now: 0 };
    const source = fakeSource({ alice: { home: 'a' }, bob: { home: 'b' } });
    const cache = new LookupCache<User>(
      {
        maxEntries: 10,
        ttlMs: 100,
        negativeTtlMs: 10,
        staleIfErrorMs: 10_000,
        sourceRetryMs: 1000,
        now: () => clock.now,
      },
      source.load,
    );
    await cache.get('alice');
    await cache.get('bob');
    source.state.down = true;
    clock.now = 200;
    expect((await cache.get('alice')).outcome).toBe('stale'); // asked, failed, served stale
    expect(source.state.queries.get('alice')).toBe(2);
    clock.now = 500;
    expect((await cache.get('bob')).outcome).toBe('stale'); // not asked: the source just failed
    expect(source.state.queries.get('bob')).toBe(1);
    clock.now = 1300;
    source.state.down = false;
    expect((await cache.get('bob')).outcome).toBe('miss'); // the window is over: asked again
    expect(source.state.queries.get('bob')).toBe(2);
  });
});
