import { describe, expect, it } from 'vitest';
import { Catalog, type CatalogOptions } from '../src/catalog.js';
import { Directory } from '../src/directory.js';
import { DirectoryError } from '../src/errors.js';
import { rendezvousPick, rendezvousWeight } from '../src/pool.js';
import type { UserSource } from '../src/source.js';

const tls = { verify: true };
const imap = { imap: { port: 143, tls: 'none', forward: 'none' } } as const;
const backend = (host: string) => ({ host, endpoints: imap, tls });

function options(members: string[], more: Partial<CatalogOptions> = {}): CatalogOptions {
  return {
    backends: {
      'nfs-1': backend('10.0.1.1'),
      'nfs-2': backend('10.0.1.2'),
      'nfs-3': backend('10.0.1.3'),
      'nfs-4': backend('10.0.1.4'),
      solo: backend('10.0.2.1'),
    },
    pools: { nfs: { members } },
    literalDefaults: imap,
    literalTls: tls,
    allowLiteral: true,
    ...more,
  };
}

const keys = Array.from({ length: 3000 }, (_, i) => `user${i}@example.com`);
const three = ['nfs-1', 'nfs-2', 'nfs-3'];

describe('rendezvousPick', () => {
  it('has no member to pick from an empty list', () => {
    expect(rendezvousPick('alice', [])).toBeUndefined();
  });

  it('does not depend on the order or repetition of members', () => {
    for (const key of keys.slice(0, 200)) {
      const picked = rendezvousPick(key, three);
      expect(rendezvousPick(key, [...three].reverse())).toBe(picked);
      expect(rendezvousPick(key, [...three, ...three])).toBe(picked);
    }
  });

  it('gives a 64-bit weight that only the two strings decide', () => {
    const weight = rendezvousWeight('alice', 'nfs-1');
    expect(weight).toBe(rendezvousWeight('alice', 'nfs-1'));
    expect(weight).not.toBe(rendezvousWeight('alice', 'nfs-2'));
    expect(weight < 2n ** 64n && weight >= 0n).toBe(true);
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(rendezvousWeight('c', 'ab')).not.toBe(rendezvousWeight('bc', 'a'));
  });

  it.each([
    ['', ['a', 'b']],
    ['\0', ['a', '']],
    ['x'.repeat(100_000), ['a', 'b']],
    ['ü@例え.jp', ['ünï', 'cödé']],
  ])('picks a member for the hostile key %#', (key, members) => {
    expect(members).toContain(rendezvousPick(key, members));
  });
});

describe('Catalog pools', () => {
  it('picks the same member on every node (two catalogs built from the same config)', () => {
    const node1 = new Catalog(options(three));
    const node2 = new Catalog(options(['NFS-3', 'nfs-1', 'nfs-2']));
    for (const key of keys) {
      expect(node2.resolve('nfs', { key }).name).toBe(node1.resolve('nfs', { key }).name);
    }
  });

  it('spreads users roughly evenly over the members', () => {
    const catalog = new Catalog(options(three));
    const counts = new Map<string, number>();
    for (const key of keys) {
      const name = catalog.resolve('nfs', { key }).name;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(three);
    for (const count of counts.values()) {
      expect(count / keys.length).toBeGreaterThan(0.25);
      expect(count / keys.length).toBeLessThan(0.42);
    }
  });

  it('moves only the users of a removed member', () => {
    const before = new Catalog(options([...three, 'nfs-4']));
    const after = new Catalog(options(three));
    let moved = 0;
    for (const key of keys) {
      const was = before.resolve('nfs', { key }).name;
      const now = after.resolve('nfs', { key }).name;
      if (was === 'nfs-4') moved += 1;
      else expect(now).toBe(was);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('skips unhealthy members, moving only their users', () => {
    const catalog = new Catalog(options(three));
    const isHealthy = (name: string) => name !== 'nfs-2';
    for (const key of keys.slice(0, 500)) {
      const home = catalog.resolve('nfs', { key }).name;
      const picked = catalog.resolve('nfs', { key, isHealthy }).name;
      expect(picked).not.toBe('nfs-2');
      if (home !== 'nfs-2') expect(picked).toBe(home);
    }
  });

  it('still picks a member when none is healthy (the user then gets its temporary failure)', () => {
    const catalog = new Catalog(options(three));
    for (const key of keys.slice(0, 100)) {
      const home = catalog.resolve('nfs', { key }).name;
      expect(catalog.resolve('nfs', { key, isHealthy: () => false }).name).toBe(home);
    }
  });

  it('marks the backend with its pool; a backend named directly has none', () => {
    const catalog = new Catalog(options(three));
    expect(catalog.resolve('NFS', { key: 'alice' })).toMatchObject({
      pool: 'nfs',
      host: expect.stringMatching(/^10\.0\.1\./),
      literal: false,
    });
    expect(catalog.resolve('nfs-1').pool).toBeUndefined();
    expect(catalog.resolve('solo', { key: 'alice' }).name).toBe('solo');
    expect(catalog.poolNames).toEqual(['nfs']);
    expect(catalog.poolMembers('Nfs')).toEqual(three);
    expect(catalog.poolMembers('solo')).toBeUndefined();
    expect(catalog.names).not.toContain('nfs');
  });

  it('refuses to pick a member without the user key', () => {
    const catalog = new Catalog(options(three));
    expect(() => catalog.resolve('nfs')).toThrow(DirectoryError);
    expect(() => catalog.resolve('nfs')).toThrow(/needs the user's key/);
  });

  it.each([
    [[], /pools\.nfs: no members/],
    [['nfs-1', 'nope'], /member "nope" is not a backend/],
    [['nfs-1', 'NFS-1'], /listed twice/],
    [['10.0.0.9'], /is not a backend/],
  ])('refuses the pool %j', (members, message) => {
    expect(() => new Catalog(options(members))).toThrow(message);
  });

  it('refuses a pool named like a backend, or two pools differing in case only', () => {
    expect(() => new Catalog(options(three, { pools: { SOLO: { members: three } } }))).toThrow(
      /a backend has the same name/,
    );
    expect(
      () =>
        new Catalog(
          options(three, { pools: { nfs: { members: three }, NFS: { members: three } } }),
        ),
    ).toThrow(/used twice/);
  });
});

describe('Directory with a pool home', () => {
  const source: UserSource = {
    kind: 'file',
    find: async (address) => ({
      id: address.key,
      login: address.key,
      home: 'nfs',
      attributes: {},
    }),
    close: async () => {},
  };
  const cache = { maxEntries: 100, ttlMs: 60_000, negativeTtlMs: 1000, staleIfErrorMs: 60_000 };
  const rules = {
    defaultDomain: undefined,
    localPartFolding: 'none',
    detailSeparator: '+',
    domainAliases: {},
    maxLength: 320,
  } as const;

  it('picks by the login, with the health of the moment (the cached entry is not the route)', async () => {
    const down = new Set<string>();
    const directory = new Directory({
      source,
      catalog: new Catalog(options(three)),
      rules,
      cache,
      isHealthy: (name) => !down.has(name),
    });
    const login = 'alice@example.com';
    const home = rendezvousPick(login, three);
    expect((await directory.lookup(login)).route?.backend).toMatchObject({
      name: home,
      pool: 'nfs',
    });
    down.add(home as string);
    const moved = (await directory.lookup(login)).route?.backend.name;
    expect(moved).not.toBe(home);
    expect(three).toContain(moved);
    // A per-lookup check (the caller's protocol) overrides the directory-wide one.
    const perLookup = await directory.lookup(login, { isHealthy: () => true });
    expect(perLookup.route?.backend.name).toBe(home);
    down.clear();
    expect((await directory.lookup(login)).route?.backend.name).toBe(home);
  });
});
