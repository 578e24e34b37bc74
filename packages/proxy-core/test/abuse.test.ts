import { describe, expect, it } from 'vitest';
import { AbuseGuard } from '../src/abuse/guard.js';
import { addressKey, userKey } from '../src/abuse/keys.js';
import { MemoryStore } from '../src/abuse/memory-store.js';
import { openAbuseStore } from '../src/abuse/open.js';
import { type AbuseSettings, defaultAbuseSettings, penaltyDelay } from '../src/abuse/settings.js';
import { type AbuseStore, type PoolEvent, parsePoolEvent } from '../src/abuse/store.js';
import { AddressSet } from '../src/trusted.js';

const minute = 60_000;

function setup(overrides: Partial<AbuseSettings> = {}) {
  const clock = { now: 1_000_000 };
  const settings = { ...defaultAbuseSettings, ...overrides };
  const store = new MemoryStore({
    maxEntries: settings.memoryMaxEntries,
    maxFailuresPerKey: 64,
    now: () => clock.now,
  });
  const guard = new AbuseGuard(settings, store);
  return { clock, settings, store, guard };
}

async function fail(guard: AbuseGuard, address: string, user: string, times: number) {
  for (let i = 0; i < times; i += 1) await guard.loginFailed(address, user);
}

describe('penaltyDelay', () => {
  it.each([
    [0, 0],
    [1, 0],
    [2, 0],
    [3, 1000],
    [4, 2000],
    [5, 4000],
    [6, 8000],
    [7, 15_000],
    [8, 15_000],
    [5000, 15_000],
  ])('after %i failures waits %i ms (defaults)', (failures, delay) => {
    expect(penaltyDelay(defaultAbuseSettings, failures)).toBe(delay);
  });

  it('is off with a step of 0, and a threshold of 0 delays from the first failure only', () => {
    expect(penaltyDelay({ ...defaultAbuseSettings, delayStepMs: 0 }, 50)).toBe(0);
    const eager = { ...defaultAbuseSettings, delayAfterFailures: 0 };
    expect([0, 1, 2].map((f) => penaltyDelay(eager, f))).toEqual([0, 1000, 2000]);
  });
});

describe('keys', () => {
  it.each([
    ['192.0.2.1', 64, '192.0.2.1'],
    ['::ffff:192.0.2.1', 64, '192.0.2.1'],
    ['::FFFF:192.0.2.1', 64, '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', 64, '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:3:4:5:6', 128, '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:1:2ff::1', 56, '2001:db8:1:200::/56'],
    ['2001:db8::1.2.3.4', 128, '2001:db8::102:304'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
    ['::1', 128, '::1'],
    ['', 64, ''],
  ])('address %s with /%i counts as %s', (address, bits, key) => {
    expect(addressKey(address, bits)).toBe(key);
  });

  it('lowercases user names and digests very long ones', () => {
    expect(userKey('Alice@Example.COM')).toBe('alice@example.com');
    const long = userKey('x'.repeat(5000));
    expect(long).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(userKey('X'.repeat(5000))).toBe(long);
  });
});

describe('MemoryStore', () => {
  it('counts failures in a sliding window and caps the count per key', async () => {
    const { clock, store } = setup();
    await store.recordFailure('address', 'a', 100);
    clock.now += 10;
    expect(await store.recordFailure('address', 'a', 100)).toBe(2);
    clock.now += 90; // the first failure is exactly one window old: gone
    expect(await store.failures('address', 'a', 100)).toBe(1);
    clock.now += 10;
    expect(await store.failures('address', 'a', 100)).toBe(0);
    for (let i = 0; i < 100; i += 1) await store.recordFailure('user', 'b', 100);
    expect(await store.failures('user', 'b', 100)).toBe(64);
    expect(await store.failures('address', 'b', 100)).toBe(0); // kinds are apart
  });

  it('blocks until the time is up', async () => {
    const { clock, store } = setup();
    await store.block('user', 'u', 1000);
    expect(await store.blockedFor('user', 'u')).toBe(1000);
    expect(await store.blockedFor('address', 'u')).toBe(0);
    clock.now += 999;
    expect(await store.blockedFor('user', 'u')).toBe(1);
    clock.now += 1;
    expect(await store.blockedFor('user', 'u')).toBe(0);
  });

  it('keeps a freeze until it expires or is thawed, apart from blocks and from a flood of them', async () => {
    const clock = { now: 0 };
    const store = new MemoryStore({ maxEntries: 10, maxFailuresPerKey: 8, now: () => clock.now });
    await store.freeze('alice', 1000);
    for (let i = 0; i < 100; i += 1) await store.block('user', `u${i}`, 1000);
    expect(await store.frozenFor('alice')).toBe(1000);
    expect(await store.blockedFor('user', 'alice')).toBe(0);
    expect(await store.frozenFor('bob')).toBe(0);
    clock.now += 1000;
    expect(await store.frozenFor('alice')).toBe(0);
    await store.freeze('alice', 1000);
    await store.thaw('alice');
    expect(await store.frozenFor('alice')).toBe(0);
    // Frozen under the directory's login as userKey folds it; asked for in any case.
    await store.freeze('alice@example.com', 500);
    expect(await new AbuseGuard(defaultAbuseSettings, store).frozen('Alice@Example.COM')).toBe(
      true,
    );
  });

  it('keeps memory bounded when keys keep changing, dropping the least recently written', async () => {
    const clock = { now: 0 };
    const store = new MemoryStore({ maxEntries: 100, maxFailuresPerKey: 8, now: () => clock.now });
    await store.recordFailure('address', 'kept', minute);
    for (let i = 0; i < 10_000; i += 1) {
      await store.recordFailure('address', `10.0.${i >> 8}.${i & 255}`, minute);
      await store.block('address', `10.0.${i >> 8}.${i & 255}`, minute);
      if (i % 50 === 0) await store.recordFailure('address', 'kept', minute); // rewritten: stays
    }
    expect(store.size()).toEqual({ failures: 100, blocks: 100, sessions: 0 });
    expect(await store.failures('address', 'kept', minute)).toBeGreaterThan(0);
    expect(await store.failures('address', '10.0.0.0', minute)).toBe(0);
    expect(await store.failures('address', '10.0.39.15', minute)).toBe(1);
  });

  it('sweeps expired entries as new ones come', async () => {
    const { clock, store } = setup();
    for (let i = 0; i < 50; i += 1) {
      await store.recordFailure('address', `a${i}`, 100);
      await store.block('address', `a${i}`, 100);
    }
    clock.now += 100;
    await store.recordFailure('address', 'new', 100);
    await store.block('address', 'new', 100);
    expect(store.size()).toEqual({ failures: 1, blocks: 1, sessions: 0 });
  });

  it('counts sessions; releasing twice is harmless', async () => {
    const { store } = setup();
    const first = await store.openSession('alice');
    const second = await store.openSession('alice');
    expect([first.count, second.count]).toEqual([1, 2]);
    await first.release();
    await first.release();
    expect(store.sessionCounts().get('alice')).toBe(1);
    await second.release();
    expect(store.size().sessions).toBe(0);
    expect((await store.openSession('alice')).count).toBe(1);
  });

  it('delivers events to every subscriber, also past one that throws', async () => {
    const { store } = setup();
    const seen: PoolEvent[] = [];
    store.subscribe(() => {
      throw new Error('listener bug');
    });
    const off = store.subscribe((e) => seen.push(e));
    await store.publish({ type: 'kick', user: 'alice' });
    off();
    await store.publish({ type: 'flush' });
    expect(seen).toEqual([{ type: 'kick', user: 'alice' }]);
  });
});

describe('parsePoolEvent', () => {
  it.each([
    [{ type: 'flush' }, { type: 'flush' }],
    [
      { type: 'flush', key: 'bob' },
      { type: 'flush', key: 'bob' },
    ],
    [
      { type: 'kick', user: 'a', extra: 1 },
      { type: 'kick', user: 'a' },
    ],
    [
      { type: 'kick', user: 'a', reason: 'admin' },
      { type: 'kick', user: 'a', reason: 'admin' },
    ],
    [{ type: 'kick' }, undefined],
    [{ type: 'flush', key: 7 }, undefined],
    [{ type: 'shutdown' }, undefined],
    [null, undefined],
    ['kick', undefined],
  ])('%j -> %j', (input, output) => {
    expect(parsePoolEvent(input)).toEqual(output);
  });
});

describe('AbuseGuard with state in this process', () => {
  it('answers without a promise, and the same as through the store', async () => {
    const { guard, clock, store } = setup({
      blockAddressAfterFailures: 3,
      maxConnectionsPerUser: 1,
    });
    const connect = guard.connect('192.0.2.1');
    expect(connect).not.toBeInstanceOf(Promise);
    expect(guard.frozen('alice')).toBe(false);
    await store.freeze('alice', 1000);
    expect(guard.frozen('Alice')).toBe(true);
    expect(guard.beforeLogin('192.0.2.1', 'alice')).toEqual({ blocked: false, delayMs: 0 });
    const session = guard.userSession('alice');
    expect(session).toMatchObject({ ok: true, count: 1 });
    expect(guard.userSession('Alice')).toEqual({
      ok: false,
      reason: 'too-many-sessions',
      count: 2,
    });
    if (!(session instanceof Promise) && session.ok) session.release();
    expect(guard.userSession('alice')).toMatchObject({ ok: true, count: 1 });

    await fail(guard, '192.0.2.1', 'bob', 3);
    expect(guard.beforeLogin('192.0.2.1', 'alice')).toMatchObject({ blocked: true });
    expect(guard.connect('192.0.2.1')).toEqual({ ok: false, reason: 'blocked' });
    clock.now += defaultAbuseSettings.blockMs + 1;
    expect(guard.connect('192.0.2.1')).toMatchObject({ ok: true });
  });

  it('says whether a login would go ahead at once, as beforeLogin would, counting nothing', async () => {
    const { guard, clock, settings } = setup({ blockAddressAfterFailures: 5 });
    expect(guard.wouldPassNow('192.0.2.1', 'alice')).toBe(true);
    await fail(guard, '192.0.2.1', 'bob', 3); // the fourth try would be held a second
    expect(guard.wouldPassNow('192.0.2.1', 'alice')).toBe(false);
    expect(guard.wouldPassNow('192.0.2.2', 'alice')).toBe(true);
    await fail(guard, '192.0.2.1', 'bob', 2); // blocked
    expect(guard.wouldPassNow('192.0.2.1', 'alice')).toBe(false);
    expect(guard.counters()).toMatchObject({ penaltiesApplied: 0, loginsBlocked: 0 });
    clock.now += settings.blockMs;
    expect(guard.wouldPassNow('192.0.2.1', 'alice')).toBe(true);
    // State shared through Redis would take a round trip to ask: no.
    const shared = new AbuseGuard(settings, {} as AbuseStore);
    expect(shared.wouldPassNow('192.0.2.1', 'alice')).toBe(false);
  });

  it("forgets a pair's typos on success without a promise", async () => {
    const { guard } = setup();
    await fail(guard, '192.0.2.1', 'alice', 3);
    expect(guard.beforeLogin('192.0.2.1', 'alice')).toEqual({ blocked: false, delayMs: 1000 });
    expect(guard.loginSucceeded('192.0.2.1', 'alice')).toBeUndefined();
    expect(guard.beforeLogin('192.0.2.1', 'alice')).toEqual({ blocked: false, delayMs: 0 });
  });
});

describe('AbuseGuard connections', () => {
  it('limits connections per address; release gives the slot back, once', async () => {
    const { guard } = setup({ maxConnectionsPerAddress: 2 });
    const a = await guard.connect('192.0.2.1');
    const b = await guard.connect('192.0.2.1');
    expect(await guard.connect('192.0.2.1')).toEqual({ ok: false, reason: 'too-many-connections' });
    expect((await guard.connect('192.0.2.2')).ok).toBe(true); // another address
    expect((await guard.connect('::ffff:192.0.2.1')).ok).toBe(false); // the same one, mapped
    if (!a.ok || !b.ok) throw new Error('expected both to be let in');
    a.release();
    a.release();
    const c = await guard.connect('192.0.2.1');
    expect(c.ok).toBe(true);
    expect((await guard.connect('192.0.2.1')).ok).toBe(false);
    b.release();
    if (c.ok) c.release();
    expect(guard.connections().get('192.0.2.1')).toBeUndefined();
    expect(guard.counters().connectionsRefused).toBe(3);
  });

  it('counts an IPv6 /64 as one address, and 0 means no limit', async () => {
    const { guard } = setup({ maxConnectionsPerAddress: 1 });
    expect((await guard.connect('2001:db8:1:2::1')).ok).toBe(true);
    expect((await guard.connect('2001:db8:1:2::2')).ok).toBe(false);
    expect((await guard.connect('2001:db8:1:3::1')).ok).toBe(true);
    const open = setup({ maxConnectionsPerAddress: 0 }).guard;
    for (let i = 0; i < 100; i += 1) expect((await open.connect('192.0.2.1')).ok).toBe(true);
  });

  it('refuses a blocked address at connect and leaves exempt addresses alone', async () => {
    const { clock, settings, store } = setup({ maxConnectionsPerAddress: 1 });
    const guard = new AbuseGuard(settings, store, { exempt: new AddressSet(['10.0.0.0/8']) });
    await fail(guard, '192.0.2.1', 'x', 10);
    expect(await guard.connect('192.0.2.1')).toEqual({ ok: false, reason: 'blocked' });
    clock.now += settings.blockMs;
    expect((await guard.connect('192.0.2.1')).ok).toBe(true);
    await fail(guard, '10.1.1.1', 'y', 30);
    expect((await guard.connect('10.1.1.1')).ok).toBe(true);
    expect((await guard.connect('10.1.1.1')).ok).toBe(true);
    // ...but the user it tried is blocked from anywhere
    expect((await guard.beforeLogin('10.1.1.1', 'y')).blockedBy).toBe('user');
  });
});

describe('AbuseGuard logins', () => {
  it('delays one address more with each failure, then blocks it until blockMs has passed', async () => {
    const { clock, guard, settings } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const gate = await guard.beforeLogin('192.0.2.1', `user${i}`);
      expect(gate.blocked).toBe(false);
      delays.push(gate.delayMs);
      const result = await guard.loginFailed('192.0.2.1', `user${i}`);
      expect(result.blocked).toEqual(i === 9 ? ['address'] : []);
    }
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    const blocked = await guard.beforeLogin('192.0.2.1', 'someone');
    expect(blocked).toEqual({
      blocked: true,
      blockedBy: 'address',
      blockedForMs: settings.blockMs,
      delayMs: settings.maxDelayMs,
    });
    expect((await guard.beforeLogin('192.0.2.2', 'user1')).delayMs).toBe(0);
    clock.now += settings.blockMs - 1;
    expect((await guard.beforeLogin('192.0.2.1', 'someone')).blocked).toBe(true);
    clock.now += 1; // block and window over
    expect(await guard.beforeLogin('192.0.2.1', 'someone')).toEqual({ blocked: false, delayMs: 0 });
    expect(guard.counters()).toEqual({
      penaltiesApplied: 7,
      loginsBlocked: 2,
      blocksStarted: 1,
      connectionsRefused: 0,
      sessionsRefused: 0,
    });
  });

  it('delays a user tried from many addresses, and blocks it for those addresses only', async () => {
    const { guard } = setup();
    for (let i = 0; i < 19; i += 1) await guard.loginFailed(`198.51.100.${i}`, 'Alice');
    expect(await guard.beforeLogin('203.0.113.9', 'alice')).toEqual({
      blocked: false,
      delayMs: 15_000,
    });
    expect((await guard.loginFailed('198.51.100.99', 'alice')).blocked).toEqual(['user']);
    const gate = await guard.beforeLogin('198.51.100.3', 'ALICE');
    expect([gate.blocked, gate.blockedBy]).toEqual([true, 'user']);
    // The real user, from an address that has not failed: slowed, not locked out.
    expect(await guard.beforeLogin('203.0.113.9', 'ALICE')).toEqual({
      blocked: false,
      delayMs: 15_000,
    });
    // Until it fails too: then it is one of the failing addresses.
    await guard.loginFailed('203.0.113.9', 'alice');
    expect((await guard.beforeLogin('203.0.113.9', 'alice')).blockedBy).toBe('user');
    expect((await guard.beforeLogin('203.0.113.9', 'bob')).blocked).toBe(false);
  });

  it('with the user block scope everywhere, blocks the user from any address', async () => {
    const { guard } = setup({ userBlockScope: 'everywhere' });
    for (let i = 0; i < 20; i += 1) await guard.loginFailed(`198.51.100.${i}`, 'alice');
    const gate = await guard.beforeLogin('203.0.113.9', 'alice');
    expect([gate.blocked, gate.blockedBy]).toEqual([true, 'user']);
  });

  it.each([
    ['with the address block', defaultAbuseSettings.blockAddressAfterFailures],
    ['without the address block', 0],
  ])(
    'twenty failures for a user from one address do not block that user elsewhere (%s)',
    async (_name, blockAddressAfterFailures) => {
      const { guard } = setup({ blockAddressAfterFailures });
      const gates = [];
      for (let i = 0; i < 20; i += 1) {
        const gate = await guard.beforeLogin('192.0.2.7', 'alice');
        gates.push(gate);
        if (!gate.blocked) await guard.loginFailed('192.0.2.7', 'alice');
      }
      const delays = gates.filter((g) => !g.blocked).map((g) => g.delayMs);
      expect(delays.slice(0, 4)).toEqual([0, 0, 0, 1000]);
      expect(delays.at(-1)).toBe(15_000);
      const blockedBy = gates.filter((g) => g.blocked).map((g) => g.blockedBy);
      if (blockAddressAfterFailures > 0) expect(blockedBy).toEqual(Array(10).fill('address'));
      else expect(blockedBy).toEqual([]);
      const attacker = await guard.beforeLogin('192.0.2.7', 'alice');
      expect(attacker.blocked).toBe(true);
      const user = await guard.beforeLogin('203.0.113.9', 'alice');
      expect(user.blocked).toBe(false);
    },
  );

  it('forgets old failures as the window slides', async () => {
    const { clock, guard } = setup({ failureWindowMs: 10 * minute });
    await fail(guard, '192.0.2.1', 'a', 4);
    expect((await guard.beforeLogin('192.0.2.1', 'a')).delayMs).toBe(2000);
    clock.now += 5 * minute;
    await fail(guard, '192.0.2.1', 'a', 1);
    clock.now += 5 * minute; // the first four are out
    expect((await guard.beforeLogin('192.0.2.1', 'a')).delayMs).toBe(0);
  });

  it.each([
    {
      name: "a user's own typos, then the right password: both forgotten",
      failures: [['192.0.2.1', 'alice', 3]] as const,
      success: ['192.0.2.1', 'alice'] as const,
      after: { address: 0, user: 0 },
    },
    {
      name: 'an attacker logging in to its own account: the guesses at others stay',
      failures: [
        ['192.0.2.66', 'alice', 2],
        ['192.0.2.66', 'bob', 2],
      ] as const,
      success: ['192.0.2.66', 'mallory'] as const,
      after: { address: 4, user: 0 },
    },
    {
      name: 'the real user logging in during an attack on the name: its count stays',
      failures: [
        ['198.51.100.1', 'alice', 5],
        ['192.0.2.1', 'alice', 1],
      ] as const,
      success: ['192.0.2.1', 'alice'] as const,
      after: { address: 0, user: 6 },
    },
  ])('success: $name', async ({ failures, success, after }) => {
    const { guard, store, settings } = setup();
    for (const [address, user, times] of failures) await fail(guard, address, user, times);
    await guard.loginSucceeded(success[0], success[1]);
    const window = settings.failureWindowMs;
    expect({
      address: await store.failures('address', success[0], window),
      user: await store.failures('user', success[1], window),
    }).toEqual(after);
  });

  it('counts a login without a user name against the address only; 0 disables blocks', async () => {
    const { guard } = setup({ blockAddressAfterFailures: 0, blockUserAfterFailures: 0 });
    for (let i = 0; i < 50; i += 1)
      expect((await guard.loginFailed('192.0.2.1', 'a')).blocked).toEqual([]);
    expect(await guard.beforeLogin('192.0.2.1', undefined)).toEqual({
      blocked: false,
      delayMs: 15_000,
    });
    const other = setup().guard;
    const result = await other.loginFailed('192.0.2.1', undefined);
    expect(result).toEqual({ addressFailures: 1, userFailures: 0, blocked: [] });
  });
});

describe('AbuseGuard user sessions', () => {
  it('limits spliced sessions per user; release twice is harmless', async () => {
    const { guard } = setup({ maxConnectionsPerUser: 2 });
    const one = await guard.userSession('alice');
    const two = await guard.userSession('Alice');
    expect(await guard.userSession('alice')).toEqual({
      ok: false,
      reason: 'too-many-sessions',
      count: 3,
    });
    expect((await guard.userSession('bob')).ok).toBe(true);
    if (!one.ok || !two.ok) throw new Error('expected two sessions');
    one.release();
    one.release();
    await Promise.resolve();
    const three = await guard.userSession('alice');
    expect(three).toMatchObject({ ok: true, count: 2 });
    expect((await guard.userSession('alice')).ok).toBe(false);
    expect(guard.counters().sessionsRefused).toBe(2);
  });

  it('does not count with a limit of 0', async () => {
    const { guard, store } = setup({ maxConnectionsPerUser: 0 });
    for (let i = 0; i < 20; i += 1) expect((await guard.userSession('alice')).ok).toBe(true);
    expect(store.size().sessions).toBe(0);
  });
});

describe('openAbuseStore', () => {
  it('keeps state in memory unless told otherwise, with room for every threshold', async () => {
    const settings = { ...defaultAbuseSettings, blockUserAfterFailures: 500 };
    const store = openAbuseStore(settings, { state: 'memory' });
    expect(store).toBeInstanceOf(MemoryStore);
    let count = 0;
    for (let i = 0; i < 600; i += 1) count = await store.recordFailure('user', 'u', minute);
    expect(count).toBe(501);
    await store.close();
  });
});
