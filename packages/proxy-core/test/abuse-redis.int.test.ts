import { RedisServer } from '@homing/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbuseGuard } from '../src/abuse/guard.js';
import { openAbuseStore } from '../src/abuse/open.js';
import { defaultAbuseSettings } from '../src/abuse/settings.js';
import type { AbuseStore, PoolEvent } from '../src/abuse/store.js';

let redis: RedisServer;
let prefixes = 0;
const opened: AbuseStore[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  if (!redis.running) await redis.resume();
});

afterAll(async () => {
  await redis?.destroy();
});

interface Node {
  guard: AbuseGuard;
  store: AbuseStore;
  events: PoolEvent[];
  states: boolean[];
}

/** Nodes of one pool (one key prefix), each with its own connections and memory. */
async function pool(count: number, overrides: Partial<typeof defaultAbuseSettings> = {}) {
  const settings = { ...defaultAbuseSettings, maxConnectionsPerUser: 2, ...overrides };
  const keyPrefix = `test${++prefixes}:`;
  const nodes: Node[] = [];
  for (let i = 0; i < count; i += 1) {
    const states: boolean[] = [];
    const store = openAbuseStore(
      settings,
      {
        state: 'redis',
        url: redis.url,
        keyPrefix,
        connectTimeoutMs: 300,
        commandTimeoutMs: 300,
        checkIntervalMs: 100,
        nodeTtlMs: 1000,
      },
      { onStateChange: (up) => states.push(up) },
    );
    opened.push(store);
    const events: PoolEvent[] = [];
    store.subscribe((e) => events.push(e));
    nodes.push({ guard: new AbuseGuard(settings, store), store, events, states });
  }
  await until(() => nodes.every((n) => n.states.at(-1) === true));
  // The subscriber connection comes up on its own; give it its moment.
  await until(async () => {
    const probe = new Redis(redis.url);
    try {
      const counts = (await probe.pubsub('NUMSUB', `${keyPrefix}events`)) as [string, number];
      return Number(counts[1]) === count;
    } finally {
      probe.disconnect();
    }
  });
  return { nodes: nodes as [Node, Node, ...Node[]], keyPrefix };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs `op` and fails when it takes longer than `ms`: nothing may wait on a dead Redis. */
async function quick<T>(op: () => Promise<T>, ms = 1000): Promise<T> {
  const started = performance.now();
  const result = await op();
  expect(performance.now() - started).toBeLessThan(ms);
  return result;
}

describe('abuse state shared through Redis', () => {
  it('failures seen by one node delay and then block on another', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    for (let i = 0; i < 4; i += 1) await one.guard.loginFailed('192.0.2.1', `user${i}`);
    expect(await two.guard.beforeLogin('192.0.2.1', 'someone')).toEqual({
      blocked: false,
      delayMs: 2000,
    });
    for (let i = 4; i < 10; i += 1) await one.guard.loginFailed('192.0.2.1', `user${i}`);
    const gate = await two.guard.beforeLogin('192.0.2.1', 'someone');
    expect([gate.blocked, gate.blockedBy]).toEqual([true, 'address']);
    expect(gate.blockedForMs).toBeGreaterThan(defaultAbuseSettings.blockMs - 5000);
    expect(await two.guard.connect('192.0.2.1')).toEqual({ ok: false, reason: 'blocked' });
    expect((await two.guard.connect('192.0.2.2')).ok).toBe(true);
  });

  it("a success on one node forgets a user's typos on every node", async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    for (let i = 0; i < 4; i += 1) await two.guard.loginFailed('192.0.2.3', 'frank');
    expect((await one.guard.beforeLogin('192.0.2.3', 'frank')).delayMs).toBe(2000);
    await one.guard.loginSucceeded('192.0.2.3', 'frank');
    expect(await two.guard.beforeLogin('192.0.2.3', 'frank')).toEqual({
      blocked: false,
      delayMs: 0,
    });
  });

  it('a user tried from many addresses across the pool is blocked for them on every node, not for others', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    for (let i = 0; i < 20; i += 1) {
      await (i % 2 === 0 ? one : two).guard.loginFailed(`198.51.100.${i}`, 'Alice');
    }
    expect((await one.guard.beforeLogin('198.51.100.1', 'alice')).blockedBy).toBe('user');
    expect((await two.guard.beforeLogin('198.51.100.0', 'alice')).blockedBy).toBe('user');
    expect((await one.guard.beforeLogin('203.0.113.1', 'alice')).blocked).toBe(false);
    expect((await two.guard.beforeLogin('203.0.113.2', 'alice')).blocked).toBe(false);
  });

  it('with the user block scope everywhere, blocks the user on every node from any address', async () => {
    const { nodes } = await pool(2, { userBlockScope: 'everywhere' });
    const [one, two] = nodes;
    for (let i = 0; i < 20; i += 1) {
      await (i % 2 === 0 ? one : two).guard.loginFailed(`198.51.100.${i}`, 'Alice');
    }
    expect((await one.guard.beforeLogin('203.0.113.1', 'alice')).blockedBy).toBe('user');
    expect((await two.guard.beforeLogin('203.0.113.2', 'alice')).blockedBy).toBe('user');
  });

  it('counts sessions per user across the pool', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    const a = await one.guard.userSession('alice');
    const b = await two.guard.userSession('alice');
    expect([a.ok, b.ok]).toEqual([true, true]);
    expect(await one.guard.userSession('alice')).toEqual({
      ok: false,
      reason: 'too-many-sessions',
      count: 3,
    });
    expect(await two.guard.userSession('alice')).toMatchObject({ ok: false });
    if (a.ok) {
      a.release();
      a.release();
    }
    await until(async () => (await two.guard.userSession('alice')).ok);
    if (b.ok) b.release();
  });

  it('a freeze made on one node holds on every node until it expires or is thawed', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    await one.store.freeze('alice', 60_000);
    expect(await two.guard.frozen('ALICE')).toBe(true);
    expect(await two.guard.frozen('bob')).toBe(false);
    await two.store.thaw('alice');
    expect(await one.guard.frozen('alice')).toBe(false);
    await one.store.freeze('alice', 50);
    await new Promise((r) => setTimeout(r, 100));
    expect(await two.guard.frozen('alice')).toBe(false);
  });

  it('ignores the session counts of a node that stopped without cleaning up', async () => {
    const { nodes, keyPrefix } = await pool(1);
    const [one] = nodes;
    const direct = new Redis(redis.url);
    try {
      // One node gone long ago (no heartbeat key), one that dies now (its key about to expire).
      await direct.hset(`${keyPrefix}sessions:carol`, 'gone.1', 5, 'dying.1', 5);
      await direct.set(`${keyPrefix}node:dying.1`, '1', 'PX', 400);
      expect(await one.guard.userSession('carol')).toMatchObject({ ok: false, count: 6 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const session = await one.guard.userSession('carol');
      expect(session).toMatchObject({ ok: true, count: 1 });
      expect(await direct.hkeys(`${keyPrefix}sessions:carol`)).toHaveLength(1);
    } finally {
      direct.disconnect();
    }
  });

  it('a kick or flush published on one node reaches every node once', async () => {
    const { nodes } = await pool(3);
    await nodes[0].store.publish({ type: 'kick', user: 'alice', reason: 'password changed' });
    await nodes[1].store.publish({ type: 'flush', key: 'bob@example.com' });
    const expected = [
      { type: 'kick', user: 'alice', reason: 'password changed' },
      { type: 'flush', key: 'bob@example.com' },
    ];
    await until(() => nodes.every((n) => n.events.length >= 2));
    await new Promise((resolve) => setTimeout(resolve, 100)); // no duplicates arrive late
    for (const node of nodes) expect(node.events).toEqual(expect.arrayContaining(expected));
    for (const node of nodes) expect(node.events).toHaveLength(2);
  });

  it('keeps answering from local memory while Redis is dead, and shares again when it is back', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    const before = await one.guard.userSession('dave');
    await redis.kill();
    await until(() => one.states.at(-1) === false && two.states.at(-1) === false);
    expect(one.states).toEqual([true, false]); // one line per outage, not one per retry

    // Everything answers at once, from what each node knows itself.
    for (let i = 0; i < 4; i += 1) await quick(() => one.guard.loginFailed('192.0.2.7', 'x'));
    expect((await quick(() => one.guard.beforeLogin('192.0.2.7', 'x'))).delayMs).toBe(2000);
    expect((await quick(() => two.guard.beforeLogin('192.0.2.7', 'x'))).delayMs).toBe(0);
    expect((await quick(() => two.guard.connect('192.0.2.7'))).ok).toBe(true);
    const during = await quick(() => one.guard.userSession('dave'));
    expect(during).toMatchObject({ ok: true, count: 2 });
    await quick(() => one.store.publish({ type: 'kick', user: 'erin' }));
    expect(one.events).toEqual([{ type: 'kick', user: 'erin' }]);

    await redis.resume();
    await until(() => one.states.at(-1) === true && two.states.at(-1) === true);
    // Redis came back empty; node one wrote its live sessions (both) again.
    expect(await two.guard.userSession('dave')).toMatchObject({ ok: false, count: 3 });
    // Failures after the outage are shared again.
    for (let i = 0; i < 4; i += 1) await one.guard.loginFailed('192.0.2.8', 'y');
    expect((await two.guard.beforeLogin('192.0.2.8', 'y')).delayMs).toBe(2000);
    await until(async () => {
      await two.store.publish({ type: 'flush' });
      return one.events.some((e) => e.type === 'flush');
    });
    if (before.ok) before.release();
    if (during.ok) during.release();
  });

  it('does not hang on a Redis that stopped answering, and recovers when it answers again', async () => {
    const { nodes } = await pool(2);
    const [one, two] = nodes;
    await one.guard.loginFailed('192.0.2.9', 'z');
    redis.freeze();
    try {
      // The first call waits out the command timeout (300 ms); then the node stops asking.
      await quick(() => one.guard.beforeLogin('192.0.2.9', 'z'), 1500);
      expect(one.states.at(-1)).toBe(false);
      for (let i = 0; i < 10; i += 1)
        await quick(() => one.guard.loginFailed('192.0.2.9', 'z'), 200);
      expect((await quick(() => one.guard.beforeLogin('192.0.2.9', 'z'), 200)).blocked).toBe(true);
      expect((await quick(() => two.guard.connect('192.0.2.9'), 1500)).ok).toBe(true);
    } finally {
      redis.thaw();
    }
    await until(() => one.states.at(-1) === true && two.states.at(-1) === true);
    // What one node knew kept it safe; now it shares again.
    await one.guard.loginFailed('192.0.2.10', 'w');
    await until(async () => (await two.store.failures('address', '192.0.2.10', 60_000)) === 1);
  });
});
