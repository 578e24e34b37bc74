import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  freePort,
  type LdapUser,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
} from '@homing/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CacheOptions,
  Catalog,
  Directory,
  DirectoryError,
  defaultAddressRules,
  LdapSource,
  type LdapSourceOptions,
} from '../src/index.js';

const users: LdapUser[] = [
  {
    uid: 'alice',
    mail: 'alice@example.com',
    password: 'alice-pw',
    mailHost: 'mbox-a',
    mailRoutingAddress: 'alice.smith@example.com',
  },
  { uid: 'bob', mail: 'bob@example.com', password: 'bob-pw', mailHost: 'mbox-b' },
  {
    uid: 'carol',
    mail: 'carol@example.com',
    password: 'carol-pw',
    mailHost: 'mbox-b',
    aliases: ['carol.jones@example.com', 'cj@example.com', 'postmaster@example.com'],
  },
  { uid: 'star*user', mail: 'star*user@example.com', password: 'star-pw', mailHost: 'mbox-a' },
  { uid: 'paren(user)', mail: 'paren(user)@example.com', password: 'p-pw', mailHost: 'mbox-b' },
  {
    uid: 'dup1',
    mail: 'dup1@example.com',
    password: 'x',
    mailHost: 'mbox-a',
    aliases: ['shared@example.com'],
  },
  {
    uid: 'dup2',
    mail: 'dup2@example.com',
    password: 'x',
    mailHost: 'mbox-b',
    aliases: ['shared@example.com'],
  },
  ...(
    [
      ['dave', 'mbox-a'],
      ['erin', 'mbox-b'],
      ['frank', 'mbox-a'],
      ['grace', 'mbox-b'],
      ['heidi', 'mbox-a'],
      ['ivan', 'mbox-b'],
    ] as const
  ).map(([uid, mailHost]) => ({
    uid,
    mail: `${uid}@example.com`,
    password: `${uid}-pw`,
    mailHost,
  })),
];

const catalog = new Catalog({
  backends: {
    'mbox-a': {
      host: '10.0.0.1',
      endpoints: { imap: { port: 143, tls: 'none', forward: 'none' } },
      tls: { verify: true },
    },
    'mbox-b': {
      host: '10.0.0.2',
      endpoints: { imap: { port: 143, tls: 'none', forward: 'none' } },
      tls: { verify: true },
    },
  },
  literalDefaults: {},
  literalTls: { verify: true },
  allowLiteral: false,
});

const defaultCache: CacheOptions = {
  maxEntries: 10_000,
  ttlMs: 60_000,
  negativeTtlMs: 5_000,
  staleIfErrorMs: 3_600_000,
};

/** Every Directory a test makes, closed after each test. */
const open: Directory[] = [];

function makeDirectory(
  urls: string[],
  options: { cache?: Partial<CacheOptions>; source?: Partial<LdapSourceOptions> } = {},
): Directory {
  const source = new LdapSource({
    urls,
    bindDn: slapdServiceDn,
    bindPassword: slapdServicePassword,
    startTls: false,
    tls: { verify: true },
    timeoutMs: 2000,
    connectTimeoutMs: 1000,
    baseDn: `ou=people,${slapdSuffix}`,
    scope: 'sub',
    filter: '(|(uid={address})(mail={address})(mailLocalAddress={address}))',
    loginAttributes: ['mailRoutingAddress', 'mail'],
    homeAttribute: 'mailHost',
    extraAttributes: ['mailLocalAddress'],
    ...options.source,
  });
  const directory = new Directory({
    source,
    catalog,
    rules: defaultAddressRules,
    cache: { ...defaultCache, ...options.cache },
  });
  open.push(directory);
  return directory;
}

/** Attribute values by name, whatever spelling of the name the server echoed. */
function attribute(attributes: Readonly<Record<string, readonly string[]>>, name: string) {
  const found = Object.entries(attributes).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return found?.[1];
}

/** TCP servers a test starts, each with the sockets it accepted, closed after each test. */
const listening: { server: Server; sockets: Set<Socket> }[] = [];

async function listen(onConnection: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  listening.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `ldap://127.0.0.1:${address.port}`;
}

/**
 * A relay to slapd that counts the connections it carries and can break the open ones: a
 * broken connection is reset the next time the client sends on it, as a firewall or NAT box
 * that forgot the connection would.
 */
async function relay(port: number) {
  const state = { connections: 0, breakOpen: () => {} };
  const live = new Set<{ broken: boolean }>();
  const url = await listen((client) => {
    state.connections += 1;
    const pair = { broken: false };
    live.add(pair);
    const upstream = connect(port, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => {
      live.delete(pair);
      upstream.destroy();
    });
    upstream.pipe(client);
    client.on('data', (chunk) => {
      if (pair.broken) {
        upstream.destroy();
        client.resetAndDestroy();
      } else {
        upstream.write(chunk);
      }
    });
  });
  state.breakOpen = () => {
    for (const pair of live) pair.broken = true;
  };
  return { url, state };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
  for (const { server, sockets } of listening.splice(0)) {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

describe('LdapSource against slapd', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await Slapd.start(users);
  });
  afterAll(async () => {
    await slapd?.destroy();
  });

  it.each([
    ['alice', 'uid'],
    ['alice@example.com', 'mail'],
  ])('finds alice by %j (%s), login from mailRoutingAddress', async (input) => {
    const directory = makeDirectory([slapd.url]);
    const first = await directory.lookup(input);
    expect(first.origin).toBe('ldap');
    expect(first.stale).toBe(false);
    expect(first.route).toMatchObject({
      login: 'alice.smith@example.com',
      home: 'mbox-a',
      id: `uid=alice,ou=people,${slapdSuffix}`,
    });
    expect(first.route?.backend.name).toBe('mbox-a');
    expect(first.route?.backend.host).toBe('10.0.0.1');
    const second = await directory.lookup(input);
    expect(second.origin).toBe('cache');
    expect(second.route).toEqual(first.route);
  });

  it('finds a user by alias (mailLocalAddress), login from mail when there is no routing', async () => {
    const directory = makeDirectory([slapd.url]);
    const result = await directory.lookup('cj@example.com');
    expect(result.origin).toBe('ldap');
    expect(result.key).toBe('cj@example.com');
    expect(result.route).toMatchObject({
      login: 'carol@example.com',
      home: 'mbox-b',
      id: `uid=carol,ou=people,${slapdSuffix}`,
    });
    expect(result.route?.backend.name).toBe('mbox-b');
    expect((await directory.lookup('cj@example.com')).origin).toBe('cache');
  });

  it('uses mail as login for a user without mailRoutingAddress', async () => {
    const directory = makeDirectory([slapd.url]);
    const result = await directory.lookup('bob');
    expect(result.route?.login).toBe('bob@example.com');
    expect(result.route?.backend.name).toBe('mbox-b');
  });

  it('hands on every value of a multi-valued attribute, and each alias routes to the user', async () => {
    const directory = makeDirectory([slapd.url]);
    const aliases = ['carol.jones@example.com', 'cj@example.com', 'postmaster@example.com'];
    const result = await directory.lookup('carol@example.com');
    expect(
      [...(attribute(result.route?.attributes ?? {}, 'mailLocalAddress') ?? [])].sort(),
    ).toEqual([...aliases].sort());
    for (const alias of aliases) {
      const viaAlias = await directory.lookup(alias);
      expect(viaAlias.origin).toBe('ldap');
      expect(viaAlias.route?.id).toBe(`uid=carol,ou=people,${slapdSuffix}`);
      expect(viaAlias.route?.login).toBe('carol@example.com');
    }
  });

  it('answers "no such user" for an unknown user, without an error, and caches it', async () => {
    const directory = makeDirectory([slapd.url]);
    const result = await directory.lookup('nobody@example.com');
    expect(result).toMatchObject({ key: 'nobody@example.com', route: undefined, origin: 'ldap' });
    expect((await directory.lookup('nobody@example.com')).origin).toBe('cache');
  });

  it('reports two entries matching one address as AMBIGUOUS', async () => {
    const directory = makeDirectory([slapd.url]);
    const failure = await directory.lookup('shared@example.com').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ code: 'AMBIGUOUS' });
    expect((failure as Error).message).toContain('uid=dup1');
    expect((failure as Error).message).toContain('uid=dup2');
  });

  describe('filter injection', () => {
    const hostile = [
      '*',
      ')(uid=*',
      '*)(|(uid=*',
      '\\',
      'alice\u0000',
      'x'.repeat(10_000),
      'alice)(mail=*',
      'alice*',
      '*@example.com',
      'a*e@example.com',
      '*)(objectClass=*',
      '\\2a',
      `${'*'.repeat(100)}@example.com`,
    ];
    it.each(
      hostile.map((input) => [
        input.length > 40 ? `${input.length} characters` : JSON.stringify(input),
        input,
      ]),
    )('%s finds nobody and does not throw', async (_label, input) => {
      const directory = makeDirectory([slapd.url]);
      for (const kind of ['login', 'recipient'] as const) {
        const result = await directory.lookup(input, { kind });
        expect(result.route).toBeUndefined();
      }
    });

    it.each([
      ['star*user', 'uid'],
      ['star*user@example.com', 'mail'],
      ['paren(user)', 'uid'],
      ['paren(user)@example.com', 'mail'],
    ])(
      'finds %j (%s) by its exact value: special characters reach the server escaped',
      async (input) => {
        const directory = makeDirectory([slapd.url]);
        const result = await directory.lookup(input);
        expect(result.origin).toBe('ldap');
        expect(result.route?.login).toBe(input.includes('@') ? input : `${input}@example.com`);
      },
    );

    it.each(['star*', 'star*@example.com', '*user', 'paren(*', 'paren(user'])(
      '%j matches no user with special characters as a pattern',
      async (input) => {
        const directory = makeDirectory([slapd.url]);
        expect((await directory.lookup(input)).route).toBeUndefined();
      },
    );
  });

  describe('password check by bind', () => {
    it('accepts the right password and refuses a wrong or empty one', async () => {
      const directory = makeDirectory([slapd.url]);
      const { route } = await directory.lookup('bob@example.com');
      if (!route) throw new Error('bob not found');
      expect(await directory.verifyPassword(route, 'bob-pw')).toBe(true);
      expect(await directory.verifyPassword(route, 'wrong')).toBe(false);
      expect(await directory.verifyPassword(route, 'BOB-PW')).toBe(false);
      expect(await directory.verifyPassword(route, '')).toBe(false);
    });

    it('checks the password of a user whose DN holds special characters', async () => {
      const directory = makeDirectory([slapd.url]);
      const { route } = await directory.lookup('star*user@example.com');
      if (!route) throw new Error('star*user not found');
      expect(await directory.verifyPassword(route, 'star-pw')).toBe(true);
      expect(await directory.verifyPassword(route, 'alice-pw')).toBe(false);
    });
  });

  it('makes exactly one search at the server for 1,000 concurrent lookups of one user', async () => {
    const directory = makeDirectory([slapd.url]);
    // Establish the service connection first, so only the lookups' own search is counted.
    expect((await directory.lookup('dave@example.com')).route).toBeDefined();

    // Reading the counter is itself a search that completes after it read the counter.
    const a = await slapd.completedSearches();
    const b = await slapd.completedSearches();
    const readCost = b - a;

    const before = await slapd.completedSearches();
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => directory.lookup('erin@example.com')),
    );
    const after = await slapd.completedSearches();

    expect(after - before - readCost).toBe(1);
    expect(results.every((r) => r.route?.id === `uid=erin,ou=people,${slapdSuffix}`)).toBe(true);
    expect(directory.counters.coalesced).toBe(999);
  });

  it('refuses a wrong service password, naming the server and the bind', async () => {
    const directory = makeDirectory([slapd.url], { source: { bindPassword: 'not-it' } });
    const failure = await directory.lookup('alice').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    expect((failure as Error).message).toContain(slapd.url);
    expect((failure as Error).message).toContain('bind as service DN');
  });
});

describe('LdapSource when servers fail', () => {
  const servers: Slapd[] = [];

  async function start(): Promise<Slapd> {
    const slapd = await Slapd.start(users);
    servers.push(slapd);
    return slapd;
  }

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.destroy()));
  });

  it('fails over to the second server when the first stops', async () => {
    const [first, second] = await Promise.all([start(), start()]);
    if (!first || !second) throw new Error('no servers');
    const directory = makeDirectory([first.url, second.url]);
    expect((await directory.lookup('alice')).route?.login).toBe('alice.smith@example.com');

    const secondBefore = await second.completedSearches();
    await first.stop();
    for (const [input, home] of [
      ['bob@example.com', 'mbox-b'],
      ['dave', 'mbox-a'],
      ['cj@example.com', 'mbox-b'],
    ] as const) {
      const result = await directory.lookup(input);
      expect(result.origin).toBe('ldap');
      expect(result.route?.backend.name).toBe(home);
    }
    // The answers came from the second server: it counted their searches.
    expect(await second.completedSearches()).toBeGreaterThanOrEqual(secondBefore + 1 + 3);

    const { route } = await directory.lookup('bob@example.com');
    if (!route) throw new Error('bob not found');
    expect(await directory.verifyPassword(route, 'bob-pw')).toBe(true);
  });

  it('starts on the second server when the first is down from the beginning', async () => {
    const second = await start();
    const deadUrl = `ldap://127.0.0.1:${await freePort()}`;
    const directory = makeDirectory([deadUrl, second.url]);
    expect((await directory.lookup('grace@example.com')).route?.backend.name).toBe('mbox-b');
  });

  it('serves a cached user stale while LDAP is down, and never turns the outage into "no such user"', async () => {
    const slapd = await start();
    const clock = { now: 1_000_000 };
    const directory = makeDirectory([slapd.url], { cache: { now: () => clock.now } });
    const fresh = await directory.lookup('alice@example.com');
    expect(fresh.origin).toBe('ldap');
    expect((await directory.lookup('nobody@example.com')).route).toBeUndefined();

    await slapd.kill();
    clock.now += defaultCache.ttlMs + 1000;

    const stale = await directory.lookup('alice@example.com');
    expect(stale).toMatchObject({ origin: 'cache', stale: true, ageMs: defaultCache.ttlMs + 1000 });
    expect(stale.route).toEqual(fresh.route);
    expect(directory.counters.staleServed).toBe(1);

    // An uncached user, and a "no such user" past its TTL: an error, not an answer.
    for (const input of ['bob@example.com', 'nobody@example.com']) {
      const failure = await directory.lookup(input).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(DirectoryError);
      expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
      expect((failure as Error).message).toContain(slapd.url);
    }

    // A password check cannot be answered either, and says where it failed.
    const check = await directory
      .verifyPassword(fresh.route as NonNullable<typeof fresh.route>, 'alice-pw')
      .catch((e: unknown) => e);
    expect(check).toMatchObject({ code: 'UNAVAILABLE' });
    expect((check as Error).message).toContain(slapd.url);

    // Past the stale window the cached user is no longer served.
    clock.now += defaultCache.staleIfErrorMs;
    await expect(directory.lookup('alice@example.com')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });

  it.each(['stop', 'kill'] as const)(
    'recovers after slapd restarts (%s, then resume)',
    async (how) => {
      const slapd = await start();
      const directory = makeDirectory([slapd.url], { cache: { ttlMs: 0, negativeTtlMs: 0 } });
      expect((await directory.lookup('alice')).origin).toBe('ldap');
      expect((await directory.lookup('alice')).origin).toBe('ldap');

      await slapd[how]();
      await slapd.resume();

      const again = await directory.lookup('alice');
      expect(again).toMatchObject({ origin: 'ldap', stale: false });
      expect(again.route?.login).toBe('alice.smith@example.com');
      expect((await directory.lookup('heidi@example.com')).route?.backend.name).toBe('mbox-a');
      expect((await directory.lookup('nobody@example.com')).route).toBeUndefined();
    },
  );

  it('names every URL it tried when no server answers', async () => {
    const urls = [`ldap://127.0.0.1:${await freePort()}`, `ldap://127.0.0.1:${await freePort()}`];
    const directory = makeDirectory(urls);
    const failure = await directory.lookup('alice').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    const message = (failure as Error).message;
    for (const url of urls) expect(message).toContain(url);
    expect(message).toContain('ECONNREFUSED');
  });

  it('says a server that accepts connections but never answers timed out', async () => {
    const url = await listen(() => {});
    const directory = makeDirectory([url], { source: { timeoutMs: 300 } });
    const failure = await directory.lookup('alice').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    expect((failure as Error).message).toContain(url);
    expect((failure as Error).message).toContain('timed out');
  });

  it('replaces a reused connection that broke under a search and retries once', async () => {
    const slapd = await start();
    const { url, state } = await relay(slapd.port);
    const directory = makeDirectory([url], { cache: { ttlMs: 0, negativeTtlMs: 0 } });
    expect((await directory.lookup('alice')).route?.home).toBe('mbox-a');
    expect((await directory.lookup('bob')).route?.home).toBe('mbox-b');
    expect(state.connections).toBe(1);

    state.breakOpen();
    const result = await directory.lookup('alice');
    expect(result).toMatchObject({ origin: 'ldap', stale: false });
    expect(result.route?.login).toBe('alice.smith@example.com');
    expect(state.connections).toBe(2);
    expect(directory.counters.errors).toBe(0);
  });

  it('reports a search that gets no answer as TIMEOUT, serves stale meanwhile, and recovers', async () => {
    const slapd = await start();
    const clock = { now: 0 };
    const directory = makeDirectory([slapd.url], {
      cache: { now: () => clock.now },
      source: { timeoutMs: 300 },
    });
    const fresh = await directory.lookup('frank@example.com');
    expect(fresh.route?.home).toBe('mbox-a');

    slapd.freeze();
    try {
      const failure = await directory.lookup('ivan@example.com').catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(DirectoryError);
      expect(failure).toMatchObject({ code: 'TIMEOUT' });
      expect((failure as Error).message).toContain('timed out');

      clock.now += defaultCache.ttlMs;
      const stale = await directory.lookup('frank@example.com');
      expect(stale).toMatchObject({ origin: 'cache', stale: true });
      expect(stale.route).toEqual(fresh.route);
    } finally {
      slapd.thaw();
    }
    const recovered = await directory.lookup('ivan@example.com');
    expect(recovered).toMatchObject({ origin: 'ldap', stale: false });
    expect(recovered.route?.home).toBe('mbox-b');
  });
});
