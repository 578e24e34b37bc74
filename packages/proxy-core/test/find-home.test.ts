import { Catalog, Directory, DirectoryError, type UserSource } from '@homing/directory';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { findHome } from '../src/find-home.js';
import { BackendHealth } from '../src/health.js';
import { defaultLimits } from '../src/limits.js';

// Mail delivery's use of findHome: a recipient, LMTP or else SMTP, no password.
const homes: Record<string, string> = {
  'lmtp@example.com': 'both',
  'smtp@example.com': 'smtp-only',
  'none@example.com': 'imap-only',
  'loop@example.com': 'self',
};
let down = false;
const source: UserSource = {
  kind: 'file',
  async find(address) {
    if (down) throw new DirectoryError('UNAVAILABLE', 'source down');
    const home = homes[address.key];
    return home === undefined
      ? undefined
      : { id: address.key, login: address.key, home, attributes: {} };
  },
  close: async () => {},
};
const tls = { verify: true };
const plain = (port: number) => ({ port, tls: 'none', forward: 'none' }) as const;
const catalog = new Catalog({
  backends: {
    both: { host: '127.0.0.1', endpoints: { lmtp: plain(24), smtp: plain(2525) }, tls },
    'smtp-only': { host: '127.0.0.1', endpoints: { smtp: plain(2526) }, tls },
    'imap-only': { host: '127.0.0.1', endpoints: { imap: plain(143) }, tls },
    self: { host: '127.0.0.1', endpoints: { lmtp: plain(10024) }, tls },
  },
  literalDefaults: {},
  literalTls: tls,
  allowLiteral: false,
});

let health: BackendHealth;
let directory: Directory;

/** The test's directory, its cache kept for as long as `times` say. */
function directoryCaching(times: {
  ttlMs: number;
  negativeTtlMs: number;
  staleIfErrorMs: number;
}): Directory {
  return new Directory({
    source,
    catalog,
    rules: {
      defaultDomain: undefined,
      localPartFolding: 'none',
      detailSeparator: '+',
      domainAliases: {},
      maxLength: 320,
    },
    cache: { maxEntries: 100, ...times },
  });
}
let lines: string[];

beforeEach(() => {
  down = false;
  lines = [];
  health = new BackendHealth({ backoffMinMs: 60_000, backoffMaxMs: 60_000 });
  directory = directoryCaching({ ttlMs: 0, negativeTtlMs: 0, staleIfErrorMs: 60_000 });
});

const recipient = (user: string) =>
  findHome({
    directory,
    health,
    limits: defaultLimits,
    isOwnAddress: (_host, port) => port === 10024,
    protocol: 'lmtp',
    fallback: 'smtp',
    kind: 'recipient',
    user,
    password: undefined,
    log: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }),
  });

describe('findHome for a recipient', () => {
  it.each([
    ['LMTP when the home has it', 'lmtp@example.com', { kind: 'ok', port: 24 }],
    ['SMTP when the home has no LMTP', 'smtp@example.com', { kind: 'ok', port: 2526 }],
    ['a home with neither', 'none@example.com', { kind: 'unavailable', reason: 'no service' }],
    ['a home that is this proxy', 'loop@example.com', { kind: 'unavailable', reason: 'loop' }],
    ['nobody', 'who@example.com', { kind: 'failed' }],
    ['a detail part', 'lmtp+tag@example.com', { kind: 'ok', port: 24 }],
  ])('%s', async (_name, user, expected) => {
    const home = await recipient(user);
    const seen =
      home.kind === 'ok'
        ? { kind: home.kind, port: home.endpoint.port }
        : home.kind === 'unavailable'
          ? { kind: home.kind, reason: home.reason }
          : { kind: home.kind };
    expect(seen).toEqual(expected);
  });

  it('says "no such recipient", not a failed login', async () => {
    await recipient('who@example.com');
    expect(lines.join('')).toContain('no such recipient');
    expect(lines.join('')).not.toContain('login failed');
  });

  it('a home whose LMTP is down but whose SMTP is up is still the home', async () => {
    health.failure('both/lmtp', 'test');
    expect((await recipient('lmtp@example.com')).kind).toBe('ok');
  });

  it('directory down: unavailable; a route seen before is used, with a warning', async () => {
    expect((await recipient('lmtp@example.com')).kind).toBe('ok');
    down = true;
    expect(await recipient('smtp@example.com')).toEqual({
      kind: 'unavailable',
      reason: 'directory',
    });
    expect((await recipient('lmtp@example.com')).kind).toBe('ok');
    expect(lines.join('')).toContain('using a stale route');
  });
});

describe('findHome for a login', () => {
  const login = (cached: Directory, user: string) =>
    findHome({
      directory: cached,
      health,
      limits: defaultLimits,
      isOwnAddress: () => false,
      protocol: 'lmtp',
      user,
      password: 'secret',
      log: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }),
    });

  it('answers a user the directory has cached in the same turn, without a promise', async () => {
    const cached = directoryCaching({ ttlMs: 60_000, negativeTtlMs: 60_000, staleIfErrorMs: 0 });
    const first = login(cached, 'lmtp@example.com');
    expect(first).toBeInstanceOf(Promise);
    expect((await first).kind).toBe('ok');
    const again = login(cached, 'lmtp@example.com');
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ kind: 'ok', endpoint: { port: 24 }, useMaster: false });
    expect(cached.counters.hits).toBe(1);
    // An unknown user, once the directory has said so, fails in the same turn too.
    await login(cached, 'who@example.com');
    expect(login(cached, 'who@example.com')).toEqual({ kind: 'failed' });
    expect(cached.counters.negativeHits).toBe(1);
  });
});
