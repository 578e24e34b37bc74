import { createServer, type Socket } from 'node:net';
import { type Backend, Catalog, type Endpoint, type Protocol } from '@homing/directory';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendHealth } from '../src/health.js';
import { BackendProbes, type ProbeOptions } from '../src/probes.js';
import { PROXY_V2_SIGNATURE } from '../src/proxy-protocol.js';

type Answer = (line: string) => string | undefined;

/** What a well-behaved server says to the probe's goodbye. */
const goodbye: Answer = (line) => {
  const logout = /^(\S+) LOGOUT$/i.exec(line);
  if (logout) return `* BYE bye\r\n${logout[1]} OK done\r\n`;
  if (line === 'QUIT') return '+OK bye\r\n';
  return undefined;
};

/** A TCP server on port 0 that greets (or not) and answers line by line, noting what it got. */
async function fakeServer(greeting: string | undefined, answer: Answer = goodbye) {
  const seen = { lines: [] as string[], raw: Buffer.alloc(0), accepted: 0, closed: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    seen.accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      seen.closed += 1;
      sockets.delete(socket);
    });
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      seen.raw = Buffer.concat([seen.raw, chunk]);
      buffer += chunk.toString('latin1');
      // A PROXY v2 header (16 bytes for LOCAL) is not a line.
      if (buffer.startsWith(PROXY_V2_SIGNATURE.toString('latin1'))) buffer = buffer.slice(16);
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        seen.lines.push(line);
        const reply = answer(line);
        if (reply !== undefined) socket.write(reply);
      }
    });
    if (greeting !== undefined) socket.write(greeting);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { port, seen, close };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

const tls = { verify: true };
type Spec = Omit<Backend, 'name' | 'literal' | 'pool'>;

function catalogOf(backends: Record<string, Partial<Spec>>): Catalog {
  const full: Record<string, Spec> = {};
  for (const [name, spec] of Object.entries(backends)) {
    full[name] = { host: '127.0.0.1', endpoints: {}, tls, ...spec };
  }
  return new Catalog({ backends: full, literalDefaults: {}, literalTls: tls, allowLiteral: false });
}

function endpoint(port: number, more: Partial<Endpoint> = {}): Endpoint {
  return { port, tls: 'none', forward: 'none', ...more };
}

function setup(catalog: Catalog, options: Partial<ProbeOptions> = {}) {
  const health = new BackendHealth({ backoffMinMs: 60_000, backoffMaxMs: 60_000 });
  const probes = new BackendProbes({ catalog, health, timeoutMs: 500, ...options });
  cleanups.push(() => probes.stop());
  return { health, probes };
}

async function probeOne(protocol: Protocol, greeting: string | undefined, answer?: Answer) {
  const server = await fakeServer(greeting, answer);
  const { health, probes } = setup(
    catalogOf({ fake: { endpoints: { [protocol]: endpoint(server.port) } } }),
    { timeoutMs: 300 },
  );
  const [state] = await probes.probeNow();
  return { state, health, server };
}

describe('BackendHealth with probe verdicts', () => {
  it('is down after a failed probe until a probe passes, whatever the backoff says', () => {
    const clock = { now: 1000 };
    const health = new BackendHealth({
      backoffMinMs: 100,
      backoffMaxMs: 100,
      now: () => clock.now,
    });
    health.markDown('a/imap', 'refused');
    clock.now += 10_000;
    expect(health.isDown('a/imap')).toBe(true);
    expect(health.state('a/imap')).toEqual({
      key: 'a/imap',
      up: false,
      failures: 0,
      retryInMs: 0,
      lastError: 'refused',
      probe: 'down',
      lastProbeAt: 1000,
    });
    health.markUp('a/imap');
    expect(health.isDown('a/imap')).toBe(false);
  });

  it('ends a passive backoff at once when a probe passes', () => {
    const health = new BackendHealth({ backoffMinMs: 60_000, backoffMaxMs: 60_000 });
    health.failure('a/pop3', 'reset');
    expect(health.isDown('a/pop3')).toBe(true);
    health.markUp('a/pop3');
    expect(health.isDown('a/pop3')).toBe(false);
    expect(health.snapshot()).toEqual([
      expect.objectContaining({ key: 'a/pop3', up: true, failures: 0, probe: 'up' }),
    ]);
    health.forget('a/pop3');
    expect(health.snapshot()).toEqual([]);
    expect(health.state('b/imap')).toEqual({ key: 'b/imap', up: true, failures: 0, retryInMs: 0 });
  });
});

describe('BackendProbes: one probe', () => {
  it.each([
    ['imap', '* OK [CAPABILITY IMAP4rev1] ready\r\n', 'p1 LOGOUT'],
    ['pop3', '+OK ready\r\n', 'QUIT'],
    ['smtp', '220-mx.example.com ESMTP\r\n220-more\r\n220 ready\r\n', 'QUIT'],
    ['lmtp', '220 lmtp ready\r\n', 'QUIT'],
    ['submission', '220\r\n', 'QUIT'],
  ] as const)('finds %s up and says goodbye', async (protocol, greeting, bye) => {
    const { state, health, server } = await probeOne(protocol, greeting);
    expect(state).toMatchObject({ key: `fake/${protocol}`, up: true, available: true, probes: 1 });
    expect(state?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(state?.lastProbeAt).toBeGreaterThan(0);
    expect(health.state(`fake/${protocol}`).probe).toBe('up');
    await vi.waitFor(() => expect(server.seen.closed).toBe(1));
    expect(server.seen.lines).toEqual([bye]);
  });

  it.each([
    ['imap', 'BYE', '* BYE too busy\r\n', /greeting is not "\* OK": "\* BYE too busy"/],
    ['imap', 'PREAUTH', '* PREAUTH hello\r\n', /greeting is not/],
    ['pop3', '-ERR', '-ERR [SYS/TEMP] go away\r\n', /greeting is not "\+OK"/],
    ['smtp', '554', '554 no service\r\n', /greeting is not 220: "554 no service"/],
    ['smtp', 'half a greeting', '220-first line only\r\n', /greeting: no answer within 300 ms/],
    ['lmtp', 'a 4-digit code', '2200 nearly\r\n', /greeting is not 220/],
    ['imap', 'silence', undefined, /greeting: no answer within 300 ms/],
    ['pop3', 'an endless line', `+OK ${'x'.repeat(9000)}`, /greeting: line too long/],
  ] as const)('finds %s down on %s', async (protocol, _case, greeting, message) => {
    const { state, health } = await probeOne(protocol, greeting);
    expect(state).toMatchObject({ up: false, available: false, failures: 1 });
    expect(state?.lastError).toMatch(message);
    expect(health.isDown(`fake/${protocol}`)).toBe(true);
    expect(health.state(`fake/${protocol}`).lastError).toMatch(message);
  });

  it('finds a backend down when it closes at once or refuses the connection', async () => {
    const gone = await fakeServer(undefined);
    await gone.close();
    const closer = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => closer.close(() => resolve())));
    const { port } = closer.address() as { port: number };
    const { probes } = setup(
      catalogOf({
        refused: { endpoints: { imap: endpoint(gone.port) } },
        closing: { endpoints: { pop3: endpoint(port) } },
      }),
    );
    const states = await probes.probeNow();
    expect(states.map((s) => [s.key, s.up])).toEqual([
      ['refused/imap', false],
      ['closing/pop3', false],
    ]);
    expect(states[0]?.lastError).toMatch(/ECONNREFUSED/);
    expect(states[1]?.lastError).toMatch(/^greeting: (connection closed|read ECONNRESET)/);
  });

  it('logs in with the probe account (IMAP quoted strings), never showing the password', async () => {
    const login: Answer = (line) =>
      line.startsWith('p1 LOGIN ') ? 'p1 NO [AUTHENTICATIONFAILED] nope\r\n' : goodbye(line);
    const server = await fakeServer('* OK hi\r\n', login);
    const { probes, health } = setup(
      catalogOf({
        fake: {
          endpoints: { imap: endpoint(server.port), lmtp: endpoint(server.port) },
          probeLogin: { user: 'pro"be\\', password: 'secret pw' },
        },
      }),
      { protocols: ['imap'] },
    );
    const [state] = await probes.probeNow();
    expect(server.seen.lines[0]).toBe('p1 LOGIN "pro\\"be\\\\" "secret pw"');
    expect(state).toMatchObject({ key: 'fake/imap', login: true, up: false });
    expect(state?.lastError).toBe('login refused: "NO [AUTHENTICATIONFAILED] nope"');
    expect(JSON.stringify(health.snapshot())).not.toContain('secret');
    expect(probes.snapshot()).toHaveLength(1); // lmtp is not among this node's protocols
  });

  it('logs in over POP3 with USER and PASS', async () => {
    const ok: Answer = (line) => (/^(USER|PASS) /.test(line) ? '+OK\r\n' : goodbye(line));
    const server = await fakeServer('+OK hi\r\n', ok);
    const { probes } = setup(
      catalogOf({
        fake: {
          endpoints: { pop3: endpoint(server.port) },
          probeLogin: { user: 'probe', password: 'pw' },
        },
      }),
    );
    expect((await probes.probeNow())[0]?.up).toBe(true);
    expect(server.seen.lines).toEqual(['USER probe', 'PASS pw', 'QUIT']);
  });

  it('sends a PROXY v2 LOCAL header where the backend expects PROXY protocol', async () => {
    const server = await fakeServer('* OK hi\r\n');
    const { probes } = setup(
      catalogOf({ fake: { endpoints: { imap: endpoint(server.port, { forward: 'proxy' }) } } }),
    );
    expect((await probes.probeNow())[0]?.up).toBe(true);
    expect(server.seen.raw.subarray(0, 16)).toEqual(
      Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0, 0, 0])]),
    );
  });

  it('refuses a probe login that could inject commands, and bad settings', () => {
    const bad = catalogOf({
      fake: { endpoints: {}, probeLogin: { user: 'probe', password: 'x\r\nDELE 1' } },
    });
    expect(() => setup(bad)).toThrow(/may not contain CR, LF or NUL/);
    const catalog = catalogOf({});
    expect(() => setup(catalog, { intervalMs: 0 })).toThrow(RangeError);
    expect(() => setup(catalog, { jitter: 1 })).toThrow(RangeError);
    expect(() => setup(catalog, { fall: 0 })).toThrow(RangeError);
    expect(() => setup(catalog, { rise: 1.5 })).toThrow(RangeError);
  });
});

describe('BackendProbes: verdicts over time', () => {
  it('waits for `fall` failures and `rise` passes, reporting each change', async () => {
    let healthy = true;
    const flaky = createServer((socket) => {
      socket.on('error', () => {});
      socket.resume(); // reads, so that it sees the probe's FIN and closes
      socket.end(healthy ? '+OK\r\n' : '-ERR busy\r\n');
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => flaky.close(() => resolve())));
    const { port } = flaky.address() as { port: number };
    const changes: [string, boolean | undefined][] = [];
    const { probes, health } = setup(catalogOf({ fake: { endpoints: { pop3: endpoint(port) } } }), {
      fall: 2,
      rise: 2,
      onChange: (s) => changes.push([s.key, s.up]),
    });
    const up = async () => (await probes.probeNow())[0]?.up;
    expect(await up()).toBe(true);
    healthy = false;
    expect(await up()).toBe(true);
    expect(health.isDown('fake/pop3')).toBe(false);
    expect(await up()).toBe(false);
    expect(health.isDown('fake/pop3')).toBe(true);
    healthy = true;
    expect(await up()).toBe(false);
    expect(health.isDown('fake/pop3')).toBe(true);
    expect(await up()).toBe(true);
    expect(health.isDown('fake/pop3')).toBe(false);
    expect(changes).toEqual([
      ['fake/pop3', true],
      ['fake/pop3', false],
      ['fake/pop3', true],
    ]);
    expect(probes.snapshot()[0]).toMatchObject({
      probes: 5,
      failures: 2,
      lastError: 'greeting is not "+OK": "-ERR busy"',
    });
  });

  it('probes on a jittered interval, and stop() ends probes under way and the timers', async () => {
    const silent = await fakeServer(undefined);
    const greeting = await fakeServer('* OK\r\n');
    const { probes, health } = setup(
      catalogOf({
        silent: { endpoints: { imap: endpoint(silent.port) } },
        fine: { endpoints: { imap: endpoint(greeting.port) } },
      }),
      { intervalMs: 40, timeoutMs: 10_000 },
    );
    probes.start();
    probes.start(); // twice is once
    await vi.waitFor(() => expect(greeting.seen.accepted).toBeGreaterThanOrEqual(3));
    expect(silent.seen.accepted).toBe(1); // its first probe still waits for a greeting
    const started = performance.now();
    await probes.stop();
    expect(performance.now() - started).toBeLessThan(1000);
    // The probe that stop() cut short says nothing about the backend.
    expect(probes.snapshot().find((s) => s.backend === 'silent')?.up).toBeUndefined();
    expect(health.isDown('silent/imap')).toBe(false);
    await vi.waitFor(() => {
      expect(silent.seen.closed).toBe(silent.seen.accepted);
      expect(greeting.seen.closed).toBe(greeting.seen.accepted);
    });
    const accepted = greeting.seen.accepted;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(greeting.seen.accepted).toBe(accepted);
  });

  it('follows a reloaded catalog: new endpoints are probed, removed ones forgotten', async () => {
    const server = await fakeServer('+OK\r\n');
    const one = catalogOf({ a: { endpoints: { pop3: endpoint(server.port) } } });
    const { probes, health } = setup(one, { intervalMs: 30 });
    health.markDown('a/pop3', 'old news');
    probes.start();
    probes.setCatalog(catalogOf({ b: { endpoints: { pop3: endpoint(server.port) } } }));
    expect(health.state('a/pop3').probe).toBeUndefined();
    await vi.waitFor(() => expect(probes.snapshot()).toMatchObject([{ key: 'b/pop3', up: true }]));
  });
});
