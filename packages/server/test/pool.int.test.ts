import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rendezvousPick } from '@homing/directory';
import {
  Dovecot,
  freePort,
  RawClient,
  RedisServer,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from './node-process.js';

// Two homing nodes sharing one Redis, in front of two Dovecots that share storage (a pool).
const dir = tempDir('pool');
const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
let slapd: Slapd;
let a: Dovecot;
let b: Dovecot;
let redis: RedisServer;
const nodes: { process: NodeProcess; config: string; imap: number; admin: number }[] = [];

function config(imap: number, admin: number): string {
  return `log: { level: info, format: json }
admin: { listen: 127.0.0.1:${admin}, token: pool-token-0123456789 }
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
  cache: { ttl: 0s }
listeners:
  - protocol: imap
    listen: 127.0.0.1:${imap}
    tls: none
    allow_plaintext_auth: true
    proxy_protocol: true
    trusted_proxies: [127.0.0.0/8]
limits: { failed_login_delay: 200ms }
abuse:
  delay_after_failures: 100
  block_address_after: 3
  block_time: 1m
  max_delay: 500ms
  block_user_after: 6
  state: redis
  redis: { url: '${redis.url}' }
backend_health: { probe_interval: 1s, probe_timeout: 1s, backoff_min: 200ms, backoff_max: 500ms }
backends:
  mbox-a: { host: 127.0.0.1, imap: { port: ${a.imapPort} } }
  mbox-b: { host: 127.0.0.1, imap: { port: ${b.imapPort} } }
pools:
  shared: { members: [mbox-a, mbox-b] }
`;
}

/** A login through node `n`, as client address `from` (PROXY v1). */
async function login(n: number, user: string, password: string, from: string) {
  const client = await RawClient.connect({
    port: nodes[n]?.imap as number,
    preamble: Buffer.from(`PROXY TCP4 ${from} 127.0.0.1 40000 143\r\n`),
  });
  const [greeting] = await client.until(/^\* (OK|BYE) /);
  // A blocked address is turned away before it can even try.
  if (greeting?.startsWith('* BYE')) return { client, reply: greeting };
  client.send(`a LOGIN ${user}@example.com ${password}`);
  const reply = (await client.until(/^a /)).at(-1) as string;
  return { client, reply };
}

async function adminOf(n: number, path: string, init: RequestInit = {}) {
  const response = await fetch(`http://127.0.0.1:${nodes[n]?.admin}${path}`, {
    ...init,
    headers: { ...init.headers, authorization: 'Bearer pool-token-0123456789' },
  });
  return JSON.parse(await response.text()) as Record<string, unknown>;
}

async function metricOf(n: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${nodes[n]?.admin}/metrics`, {
    headers: { authorization: 'Bearer pool-token-0123456789' },
  });
  return response.text();
}

async function memberOf(n: number, user: string): Promise<string> {
  const query = new URLSearchParams({ address: `${user}@example.com` });
  const answer = (await adminOf(n, `/directory/lookup?${query}`)) as {
    backend: { name: string };
  };
  return answer.backend.name;
}

beforeAll(async () => {
  const mailboxes = users.map((u) => ({ user: `${u}@example.com`, password: `${u}-pw` }));
  [slapd, a, b, redis] = await Promise.all([
    Slapd.start(
      users.map((u) => ({ uid: u, mail: `${u}@example.com`, password: 'x', mailHost: 'shared' })),
    ),
    Dovecot.start({ name: 'A', users: mailboxes }),
    Dovecot.start({ name: 'B', users: mailboxes }),
    RedisServer.start(),
  ]);
  for (let i = 0; i < 2; i += 1) {
    const imap = await freePort();
    const admin = await freePort();
    const path = join(dir.path, `node${i}.yaml`);
    writeFileSync(path, config(imap, admin));
    nodes.push({ process: new NodeProcess(path), config: path, imap, admin });
  }
  await Promise.all(nodes.map((n) => n.process.waitFor('homing ready')));
  await Promise.all(nodes.map((n) => n.process.waitFor('shared state: Redis is up')));
});

afterAll(async () => {
  for (const n of nodes) n.process.signal('SIGKILL');
  await Promise.all([slapd?.destroy(), a?.destroy(), b?.destroy(), redis?.destroy()]);
  dir.remove();
});

describe('a pool of two nodes sharing Redis', () => {
  it('failures seen by one node block the address on the other', async () => {
    for (let i = 0; i < 3; i += 1) {
      const { client, reply } = await login(0, 'alice', 'wrong', '192.0.2.31');
      expect(reply).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
      client.close();
    }
    const blocked = await login(1, 'alice', 'alice-pw', '192.0.2.31');
    expect(blocked.reply).toMatch(/^\* BYE \[UNAVAILABLE\]/);
    blocked.client.close();
    const other = await login(1, 'alice', 'alice-pw', '192.0.2.32');
    expect(other.reply).toMatch(/^a OK /);
    other.client.close();
  });

  it('twenty failures for one user from one address block the address, not the user', async () => {
    const replies: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const { client, reply } = await login(i % 2, 'grace', 'wrong', '192.0.2.41');
      replies.push(reply);
      client.close();
    }
    expect(replies.slice(0, 3).every((r) => r.startsWith('a NO [AUTHENTICATIONFAILED]'))).toBe(
      true,
    );
    // The failure is counted as the reply goes out: the next attempt may still slip in before.
    expect(replies.slice(5).every((r) => r.startsWith('* BYE [UNAVAILABLE]'))).toBe(true);
    expect(replies.some((r) => r.startsWith('a OK'))).toBe(false);
    const own = await login(1, 'grace', 'grace-pw', '192.0.2.42');
    expect(own.reply).toMatch(/^a OK /);
    own.client.close();
  });

  it('a user tried from six addresses is refused to them, not to an address that has not failed', async () => {
    for (let i = 0; i < 6; i += 1) {
      const { client, reply } = await login(i % 2, 'heidi', 'wrong', `198.51.100.${i}`);
      expect(reply).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
      client.close();
    }
    // The last failure is counted as its reply goes out: give Redis that moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stranger = await login(0, 'heidi', 'heidi-pw', '198.51.100.3');
    expect(stranger.reply).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
    stranger.client.close();
    const own = await login(1, 'heidi', 'heidi-pw', '192.0.2.43');
    expect(own.reply).toMatch(/^a OK /);
    own.client.close();
  });

  it('a kick on one node closes the session on the other', async () => {
    const { client, reply } = await login(1, 'bob', 'bob-pw', '192.0.2.33');
    expect(reply).toMatch(/^a OK /);
    await adminOf(0, '/sessions/kick', {
      method: 'POST',
      body: JSON.stringify({ user: 'bob@example.com' }),
    });
    await client.waitClosed();
  });

  // These start a `homing lookup` process per user and node: seconds each on a busy machine.
  const manyProcesses = 90_000;

  it(
    'every node picks the same pool member for a user, with no coordination',
    async () => {
      for (const user of users) {
        const expected = rendezvousPick(`${user}@example.com`, ['mbox-a', 'mbox-b']);
        expect(await memberOf(0, user)).toBe(expected);
        expect(await memberOf(1, user)).toBe(expected);
      }
    },
    manyProcesses,
  );

  it(
    'a failed member moves only its own users; the probes bring it back',
    async () => {
      const before = new Map<string, string>();
      for (const user of users) before.set(user, await memberOf(0, user));
      expect(new Set(before.values()).size).toBe(2); // both members hold someone
      await b.stop();
      try {
        await expect
          .poll(async () => JSON.stringify(await adminOf(0, '/backends')), { timeout: 10_000 })
          .toMatch(/"key":"mbox-b\/imap"[^}]*"up":false/);
        for (const user of users) {
          const now = await memberOf(0, user);
          expect(now).toBe('mbox-a');
          if (before.get(user) === 'mbox-a') expect(now).toBe(before.get(user));
        }
        const moved = users.find((u) => before.get(u) === 'mbox-b') as string;
        const { client, reply } = await login(0, moved, `${moved}-pw`, '192.0.2.34');
        expect(reply).toMatch(/^a OK /); // the other member serves the shared storage
        client.close();
      } finally {
        await b.resume();
      }
      await expect
        .poll(async () => JSON.stringify(await adminOf(1, '/backends')), { timeout: 10_000 })
        .toMatch(/"key":"mbox-b\/imap"[^}]*"up":true/);
      for (const user of users) expect(await memberOf(1, user)).toBe(before.get(user));
    },
    manyProcesses,
  );

  it('keeps working on local state when Redis stops, and shares again when it is back', async () => {
    expect(await metricOf(0)).toMatch(/^homing_redis_up 1$/m);
    await redis.kill();
    await Promise.all(nodes.map((n) => n.process.waitFor('Redis lost')));
    expect(await metricOf(0)).toMatch(/^homing_redis_up 0$/m);
    const { client, reply } = await login(0, 'carol', 'carol-pw', '192.0.2.35');
    expect(reply).toMatch(/^a OK /);
    client.close();
    // Local state still protects this node.
    for (let i = 0; i < 3; i += 1) (await login(0, 'dave', 'wrong', '192.0.2.36')).client.close();
    const blocked = await login(0, 'dave', 'dave-pw', '192.0.2.36');
    expect(blocked.reply).toMatch(/^\* BYE \[UNAVAILABLE\]/);
    blocked.client.close();
    const from = nodes.map((n) => n.process.output.length);
    await redis.resume();
    await Promise.all(
      nodes.map((n, i) => n.process.waitFor('shared state: Redis is up', 15_000, from[i])),
    );
    expect(await metricOf(1)).toMatch(/^homing_redis_up 1$/m);
  });
});
