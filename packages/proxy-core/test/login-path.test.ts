import { createServer, type Server, type Socket } from 'node:net';
import { Catalog, Directory, DirectoryError, type UserSource } from '@homing/directory';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbuseGuard } from '../src/abuse/guard.js';
import { MemoryStore } from '../src/abuse/memory-store.js';
import { defaultAbuseSettings } from '../src/abuse/settings.js';
import type { CounterKind } from '../src/abuse/store.js';
import type { Credentials } from '../src/credentials.js';
import { BackendHealth } from '../src/health.js';
import { defaultLimits, type Limits } from '../src/limits.js';
import { LineReader } from '../src/line-reader.js';
import type { ClientConnection, ListenerSpec } from '../src/listener.js';
import {
  type LoginDialect,
  type LoginPath,
  login,
  plainReplay,
  type Replay,
} from '../src/login-path.js';
import type { LoginOutcome, ProxyMetrics } from '../src/metrics.js';
import { AddressSet } from '../src/trusted.js';

/**
 * A backend that speaks a one-line dialect: greets `READY`, answers `LOGIN user pass` with
 * `OK`, `NO` (wrong password), `BUSY` (a refusal of its own) or `DOWN` (its trouble); `slow`
 * as the password makes it wait for the test to release it.
 */
let backend: Server;
let backendPort: number;
const logins: string[] = [];
let releaseSlow: () => void = () => {};

beforeAll(async () => {
  backend = createServer((socket) => {
    socket.write('READY\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        logins.push(line);
        answer(socket, line.split(' ')[2] ?? '');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as { port: number }).port;
});

afterAll(() => backend.close());

function answer(socket: Socket, password: string): void {
  if (password === 'slow') {
    releaseSlow = () => socket.write('OK\r\n');
    return;
  }
  const replies: Record<string, string> = { pw: 'OK', busy: 'BUSY', down: 'DOWN' };
  socket.write(`${replies[password] ?? 'NO'}\r\n`);
}

interface Conversation {
  readonly socket: Socket;
  readonly reader: LineReader;
}

const dialect: LoginDialect<Conversation, string, string> = {
  protocol: 'imap',
  async greet(socket, _tls, _endpoint, limits, signal) {
    const reader = new LineReader(socket, limits.lineBytes);
    if ((await reader.readLine(signal)).toString() !== 'READY') throw new Error('not ready');
    return { socket: socket as Socket, reader };
  },
  async replay(session, replay, signal) {
    const password = 'password' in replay.credentials ? replay.credentials.password : '';
    session.socket.write(`LOGIN ${replay.route.login} ${password} ${replay.extra}\r\n`);
    const reply = (await session.reader.readLine(signal)).toString();
    if (reply === 'OK') return { kind: 'ok', reply };
    if (reply === 'BUSY') return { kind: 'refused', reply, detail: reply };
    if (reply === 'DOWN') return { kind: 'unavailable', reason: 'backend said DOWN' };
    return { kind: 'rejected', detail: reply };
  },
};

const users: Record<string, string> = {
  'alice@example.com': 'mbox',
  'bob@example.com': 'gone',
  'loop@example.com': 'self',
};
let directoryDown = false;
const source: UserSource = {
  kind: 'file',
  async find(address) {
    if (directoryDown) throw new DirectoryError('UNAVAILABLE', 'source down');
    const home = users[address.key];
    return home === undefined
      ? undefined
      : { id: address.key, login: address.key, home, attributes: {} };
  },
  close: async () => {},
};

const limits: Limits = { ...defaultLimits, failedLoginDelayMs: 150 };
const counted: LoginOutcome[] = [];
const metrics: ProxyMetrics = {
  login: (_protocol, outcome) => counted.push(outcome),
  backendConnect: () => {},
  spliced: () => {},
  smtpRecipient: () => {},
  smtpMessage: () => {},
  localError: () => {},
  smtpJournal: () => {},
};
let path: LoginPath;
let health: BackendHealth;

beforeEach(async () => {
  logins.length = 0;
  counted.length = 0;
  directoryDown = false;
  // A free port nobody listens on: the "gone" backend.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const gonePort = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const service = (port: number) => ({ imap: { port, tls: 'none', forward: 'none' } }) as const;
  const tls = { verify: true };
  const catalog = new Catalog({
    backends: {
      mbox: { host: '127.0.0.1', endpoints: service(backendPort), tls },
      gone: { host: '127.0.0.1', endpoints: service(gonePort), tls },
      self: { host: '127.0.0.1', endpoints: service(143), tls },
    },
    literalDefaults: {},
    literalTls: tls,
    allowLiteral: false,
  });
  health = new BackendHealth({ backoffMinMs: 1000, backoffMaxMs: 1000 });
  path = {
    directory: new Directory({
      source,
      catalog,
      rules: {
        defaultDomain: undefined,
        localPartFolding: 'none',
        detailSeparator: '+',
        domainAliases: {},
        maxLength: 320,
      },
      cache: { maxEntries: 100, ttlMs: 0, negativeTtlMs: 0, staleIfErrorMs: 0 },
    }),
    health,
    limits,
    isOwnAddress: (_host, port) => port === 143,
  };
});

function connection(guard?: AbuseGuard): ClientConnection {
  const spec: ListenerSpec = {
    name: 'test',
    host: '127.0.0.1',
    port: 143,
    tls: 'none',
    proxyProtocol: false,
    trustedProxies: new AddressSet([]),
  };
  return {
    id: 'sid',
    socket: undefined as unknown as Socket,
    secure: false,
    client: { address: '192.0.2.7', port: 50_000 },
    local: { address: '127.0.0.1', port: 143 },
    listener: spec,
    log: pino({ level: 'silent' }),
    listenerLog: pino({ level: 'silent' }),
    keepAliveMs: 0,
    metrics,
    guard,
  };
}

const password = (user: string, pw: string): Credentials => ({
  mechanism: 'LOGIN',
  user,
  password: pw,
});

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

describe('the one login path', () => {
  it('logs in at the home with the extra the session gave, and counts it', async () => {
    const result = await login(
      path,
      dialect,
      connection(),
      password('alice@example.com', 'pw'),
      'id-fields',
      () => false,
    );
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.reply).toBe('OK');
    expect(result.route.backend.name).toBe('mbox');
    expect(logins).toEqual(['LOGIN alice@example.com pw id-fields']);
    expect(counted).toEqual(['ok']);
    result.session.socket.destroy();
  });

  it('answers an unknown user and a wrong password alike, after the delay', async () => {
    const unknown = await timed(
      login(path, dialect, connection(), password('nobody@example.com', 'pw'), '', () => false),
    );
    const wrong = await timed(
      login(path, dialect, connection(), password('alice@example.com', 'bad'), '', () => false),
    );
    expect(unknown.value).toEqual({ kind: 'failed' });
    expect(wrong.value).toEqual({ kind: 'failed' });
    for (const { ms } of [unknown, wrong])
      expect(ms).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 5);
    expect(logins).toEqual(['LOGIN alice@example.com bad ']);
    expect(counted).toEqual(['failed', 'failed']);
  });

  it('gives a fast temporary failure when the backend is down, and marks it down', async () => {
    const { value, ms } = await timed(
      login(path, dialect, connection(), password('bob@example.com', 'pw'), '', () => false),
    );
    expect(value).toEqual({ kind: 'unavailable' });
    expect(ms).toBeLessThan(limits.failedLoginDelayMs);
    expect(health.isDown('gone/imap')).toBe(true);
    expect(counted).toEqual(['unavailable']);
  });

  it('gives a temporary failure when the directory is down, and when the backend says so', async () => {
    directoryDown = true;
    const down = await login(
      path,
      dialect,
      connection(),
      password('alice@example.com', 'pw'),
      '',
      () => false,
    );
    expect(down).toEqual({ kind: 'unavailable' });
    directoryDown = false;
    const busy = await login(
      path,
      dialect,
      connection(),
      password('alice@example.com', 'down'),
      '',
      () => false,
    );
    expect(busy).toEqual({ kind: 'unavailable' });
    expect(counted).toEqual(['unavailable', 'unavailable']);
  });

  it('refuses a route back to this node without connecting', async () => {
    const result = await login(
      path,
      dialect,
      connection(),
      password('loop@example.com', 'pw'),
      '',
      () => false,
    );
    expect(result).toEqual({ kind: 'unavailable' });
    expect(logins).toEqual([]);
  });

  it("hands the backend's own refusal to the protocol", async () => {
    const result = await login(
      path,
      dialect,
      connection(),
      password('alice@example.com', 'busy'),
      '',
      () => false,
    );
    expect(result).toEqual({ kind: 'refused', reply: 'BUSY' });
  });

  it('drops the backend connection of a client that left during the login', async () => {
    let gone = false;
    const pending = login(
      path,
      dialect,
      connection(),
      password('alice@example.com', 'slow'),
      '',
      () => gone,
    );
    while (logins.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    gone = true;
    releaseSlow();
    expect(await pending).toEqual({ kind: 'abandoned' });
    expect(counted).toEqual([]);
  });

  it('counts failures against the address and the user, and holds the session slot', async () => {
    const store = new MemoryStore({ maxEntries: 100, maxFailuresPerKey: 50 });
    const guard = new AbuseGuard(
      {
        ...defaultAbuseSettings,
        maxConnectionsPerUser: 1,
        blockUserAfterFailures: 2,
        delayStepMs: 0,
        // A blocked login waits this long before its answer.
        maxDelayMs: 0,
      },
      store,
    );
    const first = await login(
      path,
      dialect,
      connection(guard),
      password('alice@example.com', 'pw'),
      '',
      () => false,
    );
    expect(first.kind).toBe('ok');
    const second = await login(
      path,
      dialect,
      connection(guard),
      password('alice@example.com', 'pw'),
      '',
      () => false,
    );
    expect(second).toEqual({ kind: 'limit', sessions: 2 });
    if (first.kind === 'ok') {
      first.release();
      first.session.socket.destroy();
    }
    for (let i = 0; i < 2; i += 1) {
      await login(
        path,
        dialect,
        connection(guard),
        password('alice@example.com', 'bad'),
        '',
        () => false,
      );
    }
    logins.length = 0;
    const blocked = await login(
      path,
      dialect,
      connection(guard),
      password('alice@example.com', 'pw'),
      '',
      () => false,
    );
    expect(blocked).toEqual({ kind: 'failed' });
    expect(logins).toEqual([]);
  });
  it('answers a failed login only once the failure is on record, however slow the store', async () => {
    // A shared store (Redis) may answer after the failed-login delay: the client's next try, on
    // any node, must already count this failure.
    const recorded: string[] = [];
    class SlowStore extends MemoryStore {
      override async recordFailure(kind: CounterKind, key: string, windowMs: number) {
        await new Promise((resolve) => setTimeout(resolve, limits.failedLoginDelayMs + 100));
        recorded.push(kind);
        return super.recordFailure(kind, key, windowMs);
      }
    }
    const guard = new AbuseGuard(
      { ...defaultAbuseSettings, delayStepMs: 0, maxDelayMs: 0 },
      new SlowStore({ maxEntries: 100, maxFailuresPerKey: 50 }),
    );
    const result = await login(
      path,
      dialect,
      connection(guard),
      password('alice@example.com', 'bad'),
      '',
      () => false,
    );
    expect(result).toEqual({ kind: 'failed' });
    expect(recorded.sort()).toEqual(['address', 'pair', 'user']);
  });
});

describe('plainReplay', () => {
  const route = (master?: { user: string; password: string }) =>
    ({ login: 'alice@example.com', backend: { master } }) as unknown as Replay<unknown>['route'];
  const replay = (
    credentials: Credentials,
    useMaster = false,
    master?: { user: string; password: string },
  ) => ({ credentials, useMaster, route: route(master) }) as unknown as Replay<unknown>;
  const text = (b: Buffer | undefined) => b?.toString('utf8').split('\u0000');

  it.each([
    [
      'a PLAIN login, under the directory name',
      replay({ mechanism: 'PLAIN', authzid: '', user: 'Alice', password: 'pw' }),
      ['', 'alice@example.com', 'pw'],
    ],
    [
      'a PLAIN login that names its user as authzid',
      replay({ mechanism: 'PLAIN', authzid: 'Alice', user: 'Alice', password: 'pw' }),
      ['', 'alice@example.com', 'pw'],
    ],
    [
      'a PLAIN login for another identity',
      replay({ mechanism: 'PLAIN', authzid: 'shared', user: 'Alice', password: 'pw' }),
      ['shared', 'alice@example.com', 'pw'],
    ],
    [
      'a master login',
      replay({ mechanism: 'LOGIN', user: 'Alice', password: 'pw' }, true, {
        user: 'm',
        password: 'mpw',
      }),
      ['alice@example.com', 'm', 'mpw'],
    ],
    [
      'LOGIN without a master',
      replay({ mechanism: 'LOGIN', user: 'Alice', password: 'pw' }),
      undefined,
    ],
    [
      'an OAuth token, even with a master',
      replay({ mechanism: 'XOAUTH2', user: 'Alice', response: Buffer.from('x') }, true, {
        user: 'm',
        password: 'mpw',
      }),
      undefined,
    ],
  ])('%s', (_name, input, expected) => {
    expect(text(plainReplay(input))).toEqual(expected);
  });
});
