import { freePort, MariaDb, Postgres } from '@homing/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CacheOptions,
  Catalog,
  Directory,
  DirectoryError,
  defaultAddressRules,
  type Route,
  SqlSource,
  type SqlSourceOptions,
} from '../src/index.js';
import { dovecot, password } from './hashes.js';

/** A PostfixAdmin-style schema: mailboxes, and aliases that point at them (themselves too). */
const schema = `
CREATE TABLE mailbox (
  username VARCHAR(255) PRIMARY KEY,
  password VARCHAR(255) NOT NULL,
  home VARCHAR(255),
  active BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE alias (
  address VARCHAR(255) NOT NULL,
  goto VARCHAR(255) NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  PRIMARY KEY (address, goto)
);
`;

const mailboxes: [string, string, string][] = [
  ['alice@example.com', 'mbox-a', '{PLAIN}alice-pw'],
  ['bob@example.com', 'mbox-b', '{PLAIN}bob-pw'],
  ['carol@example.com', 'mbox-b', '{PLAIN}carol-pw'],
  ['dave@example.com', 'mbox-a', '{PLAIN}dave-pw'],
  ...Object.entries(dovecot).map(([scheme, hash]): [string, string, string] => [
    `${scheme.toLowerCase()}@example.com`,
    'mbox-a',
    hash,
  ]),
];

const aliases: [string, string][] = [
  ...mailboxes.map(([user]): [string, string] => [user, user]),
  ['cj@example.com', 'carol@example.com'],
  ['shared@example.com', 'alice@example.com'],
  ['shared@example.com', 'bob@example.com'],
];

function fill(exec: (sql: string) => void): void {
  const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
  const rows = (values: string[][]) =>
    values.map((v) => `(${v.map(quote).join(', ')})`).join(',\n');
  exec(
    `${schema}
    INSERT INTO mailbox (username, home, password) VALUES ${rows(mailboxes)};
    INSERT INTO alias (address, goto) VALUES ${rows(aliases)};
    INSERT INTO mailbox (username, home, password, active) VALUES ('gone@example.com', 'mbox-a', '{PLAIN}x', FALSE);
    INSERT INTO alias (address, goto) VALUES ('gone@example.com', 'gone@example.com');`,
  );
}

const query =
  'SELECT m.home, m.username AS login FROM alias a JOIN mailbox m ON m.username = a.goto ' +
  'WHERE a.address = :address AND a.active AND m.active';
const passwordQuery = 'SELECT password FROM mailbox WHERE username = :address AND active';

const catalog = new Catalog({
  backends: {
    'mbox-a': { host: '10.0.0.1', endpoints: {}, tls: { verify: true } },
    'mbox-b': { host: '10.0.0.2', endpoints: {}, tls: { verify: true } },
  },
  literalDefaults: {},
  literalTls: { verify: true },
  allowLiteral: false,
});

const cache: CacheOptions = {
  maxEntries: 1000,
  ttlMs: 60_000,
  negativeTtlMs: 5_000,
  staleIfErrorMs: 3_600_000,
};

interface Server {
  url(options?: string): string;
  exec(sql: string): void;
  stop(): Promise<void>;
  resume(): Promise<void>;
  dropConnections(): void;
  destroy(): Promise<void>;
}

const servers: [string, () => Promise<Server>, string][] = [
  ['PostgreSQL', () => Postgres.start(), 'pg_sleep(2) IS NOT NULL'],
  ['MariaDB', () => MariaDb.start(), 'SLEEP(2) = 0'],
];

describe.each(servers)('SqlSource against %s', (_name, start, sleep) => {
  let server: Server;
  const open: Directory[] = [];

  function makeDirectory(
    options: Partial<SqlSourceOptions> = {},
    cacheOptions: Partial<CacheOptions> = {},
  ): Directory {
    const source = new SqlSource({
      urls: [server.url()],
      query,
      passwordQuery,
      defaultPasswordScheme: 'SHA512-CRYPT',
      maxConnections: 2,
      timeoutMs: 3000,
      connectTimeoutMs: 1000,
      idleTimeoutMs: 60_000,
      tls: { verify: true },
      ...options,
    });
    const directory = new Directory({
      source,
      catalog,
      rules: defaultAddressRules,
      cache: { ...cache, ...cacheOptions },
    });
    open.push(directory);
    return directory;
  }

  beforeAll(async () => {
    server = await start();
    fill((sql) => server.exec(sql));
  }, 60_000);
  afterAll(() => server?.destroy());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  it('routes users on two backends, and an alias to its mailbox', async () => {
    const directory = makeDirectory();
    const alice = await directory.lookup('alice@example.com');
    expect(alice).toMatchObject({ origin: 'sql', stale: false });
    expect(alice.route).toMatchObject({ login: 'alice@example.com', home: 'mbox-a' });
    expect(alice.route?.backend.name).toBe('mbox-a');
    const bob = await directory.lookup('bob@example.com');
    expect(bob.route?.backend.name).toBe('mbox-b');
    const alias = await directory.lookup('cj@example.com');
    expect(alias.route).toMatchObject({ login: 'carol@example.com', home: 'mbox-b' });
    expect((await directory.lookup('alice@example.com')).origin).toBe('cache');
  });

  it('answers an unknown or inactive user as no such user', async () => {
    const directory = makeDirectory();
    for (const input of ['nobody@example.com', 'gone@example.com', 'alice@example.org']) {
      const result = await directory.lookup(input);
      expect(result.route).toBeUndefined();
      expect(result.origin).toBe('sql');
    }
  });

  it.each([
    "' OR 1=1 --@example.com",
    "x' OR '1'='1@example.com",
    "alice@example.com' OR 'a'='a",
    '" OR ""="@example.com',
    "alice@example.com'; DROP TABLE mailbox; --",
    ':address@example.com',
  ])('takes %s as a name, not as SQL', async (input) => {
    const directory = makeDirectory();
    const result = await directory.lookup(input);
    expect(result.key).toBeDefined();
    expect(result.origin).toBe('sql');
    expect(result.route).toBeUndefined();
    expect((await directory.lookup('alice@example.com')).route?.home).toBe('mbox-a');
  });

  it('refuses to guess between two rows', async () => {
    const directory = makeDirectory();
    const failure = await directory.lookup('shared@example.com').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ code: 'AMBIGUOUS' });
    expect((failure as Error).message).toContain('shared@example.com');
  });

  it.each(Object.keys(dovecot))('checks a %s password', async (scheme) => {
    const directory = makeDirectory();
    const { route } = await directory.lookup(`${scheme.toLowerCase()}@example.com`);
    expect(route).toBeDefined();
    expect(await directory.verifyPassword(route as Route, password)).toBe(true);
    expect(await directory.verifyPassword(route as Route, `${password}x`)).toBe(false);
  });

  it('checks the password of the mailbox an alias names', async () => {
    const directory = makeDirectory();
    const { route } = await directory.lookup('cj@example.com');
    expect(await directory.verifyPassword(route as Route, 'carol-pw')).toBe(true);
    expect(await directory.verifyPassword(route as Route, '')).toBe(false);
  });

  it('without a password query, leaves password checks to others', () => {
    expect(makeDirectory({ passwordQuery: undefined }).canVerifyPasswords).toBe(false);
    expect(makeDirectory().canVerifyPasswords).toBe(true);
  });

  it('fails over to the next URL', async () => {
    const dead = `postgres://homing:x@127.0.0.1:${await freePort()}/mail`;
    const deadMysql = dead.replace('postgres:', 'mysql:');
    const url = server.url();
    const directory = makeDirectory({ urls: [url.startsWith('mysql') ? deadMysql : dead, url] });
    expect((await directory.lookup('bob@example.com')).route?.home).toBe('mbox-b');
  });

  it('bounds the pool and queues lookups beyond it', async () => {
    const directory = makeDirectory({ maxConnections: 1 }, { ttlMs: 0, negativeTtlMs: 0 });
    const inputs = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0 ? 'alice@example.com' : `nobody${i}@example.com`,
    );
    const results = await Promise.all(inputs.map((input) => directory.lookup(input)));
    expect(results.filter((r) => r.route?.home === 'mbox-a')).toHaveLength(10);
    expect(results.filter((r) => r.route === undefined)).toHaveLength(10);
  });

  it('gives up on a query that takes longer than the timeout', async () => {
    const directory = makeDirectory({ query: `${query} AND ${sleep}`, timeoutMs: 300 });
    const started = Date.now();
    const failure = await directory.lookup('alice@example.com').catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('reports bad SQL as unavailable, naming the server but not the password', async () => {
    const directory = makeDirectory({ query: 'SELECT home FROM no_such_table WHERE x = :address' });
    const failure = await directory.lookup('alice@example.com').catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    expect((failure as Error).message).toContain('127.0.0.1');
    expect((failure as Error).message).not.toContain('homing-secret');
  });

  it('replaces pooled connections the server dropped, without failing a lookup', async () => {
    const directory = makeDirectory({ maxConnections: 2 }, { ttlMs: 0, negativeTtlMs: 0 });
    await Promise.all(['alice@example.com', 'bob@example.com'].map((u) => directory.lookup(u)));
    server.dropConnections();
    const results = await Promise.all(
      ['alice@example.com', 'bob@example.com', 'cj@example.com'].map((u) => directory.lookup(u)),
    );
    expect(results.map((r) => r.route?.home)).toEqual(['mbox-a', 'mbox-b', 'mbox-b']);
    expect(results.map((r) => r.origin)).toEqual(['sql', 'sql', 'sql']);
  });

  it('serves cached users while the database is down, and reconnects when it is back', async () => {
    const clock = { now: 1_000_000 };
    const directory = makeDirectory({}, { now: () => clock.now, sourceRetryMs: 0 });
    const fresh = await directory.lookup('alice@example.com');
    expect(fresh.origin).toBe('sql');

    await server.stop();
    try {
      clock.now += cache.ttlMs + 1000;
      const stale = await directory.lookup('alice@example.com');
      expect(stale).toMatchObject({ origin: 'cache', stale: true });
      expect(stale.route).toEqual(fresh.route);
      const failure = await directory.lookup('dave@example.com').catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(DirectoryError);
      expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
      const check = await directory
        .verifyPassword(fresh.route as Route, 'alice-pw')
        .catch((e: unknown) => e);
      expect(check).toMatchObject({ code: 'UNAVAILABLE' });
      expect((check as Error).message).not.toContain('homing-secret');
    } finally {
      await server.resume();
    }
    expect((await directory.lookup('dave@example.com')).origin).toBe('sql');
    expect(await directory.verifyPassword(fresh.route as Route, 'alice-pw')).toBe(true);
  }, 60_000);
});
