import { type Backend, Catalog, type Endpoint } from '@homing/directory';
import { type Certificates, Dovecot, makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BackendHealth } from '../src/health.js';
import { BackendProbes, type ProbeOptions, type ProbeState } from '../src/probes.js';

const probeUser = { user: 'probe', password: 'probe-secret' };
const dir = tempDir('probes');
let certs: Certificates;
let dovecot: Dovecot;

beforeAll(async () => {
  certs = makeCertificates(dir.path);
  dovecot = await Dovecot.start({
    name: 'probed',
    users: [probeUser],
    tls: { cert: certs.cert, key: certs.key },
    haproxy: true,
  });
});

afterAll(async () => {
  await dovecot?.destroy();
  dir.remove();
});

type Spec = Omit<Backend, 'name' | 'literal' | 'pool'>;
const plain = (port: number | undefined, more: Partial<Endpoint> = {}): Endpoint => ({
  port: port ?? 0,
  tls: 'none',
  forward: 'none',
  ...more,
});

function catalogOf(backends: Record<string, Partial<Spec>>): Catalog {
  const full: Record<string, Spec> = {};
  for (const [name, spec] of Object.entries(backends)) {
    full[name] = { host: '127.0.0.1', endpoints: {}, tls: { verify: true }, ...spec };
  }
  return new Catalog({
    backends: full,
    literalDefaults: {},
    literalTls: { verify: true },
    allowLiteral: false,
  });
}

function probesFor(catalog: Catalog, options: Partial<ProbeOptions> = {}) {
  const health = new BackendHealth({ backoffMinMs: 60_000, backoffMaxMs: 60_000 });
  const probes = new BackendProbes({ catalog, health, timeoutMs: 2000, ...options });
  return { health, probes };
}

const verdicts = (states: readonly ProbeState[]) =>
  Object.fromEntries(states.map((s) => [s.key, s.up]));

/** Sockets and TLS connections this process holds open. */
const openSockets = () =>
  process.getActiveResourcesInfo().filter((name) => /TCP|TLS/.test(name)).length;

describe('BackendProbes against a real Dovecot', () => {
  it('marks a stopped Dovecot down and up again as soon as it is back', async () => {
    const victim = await Dovecot.start({ name: 'victim', users: [probeUser] });
    const changes: string[] = [];
    const { health, probes } = probesFor(
      catalogOf({
        victim: {
          endpoints: {
            imap: plain(victim.imapPort),
            pop3: plain(victim.pop3Port),
            lmtp: plain(victim.lmtpPort),
          },
        },
      }),
      { intervalMs: 100, onChange: (s) => changes.push(`${s.key} ${s.up ? 'up' : 'down'}`) },
    );
    try {
      probes.start();
      const all = (up: boolean) => ({ 'victim/imap': up, 'victim/pop3': up, 'victim/lmtp': up });
      await vi.waitFor(() => expect(verdicts(probes.snapshot())).toEqual(all(true)), 5000);

      // A passive failure's backoff (a minute here) ends with the next passed probe.
      health.failure('victim/imap', 'connection reset');
      expect(health.isDown('victim/imap')).toBe(true);
      await vi.waitFor(() => expect(health.isDown('victim/imap')).toBe(false), 5000);

      await victim.stop();
      await vi.waitFor(() => expect(verdicts(probes.snapshot())).toEqual(all(false)), 5000);
      expect(health.isDown('victim/pop3')).toBe(true);
      // Probes that raced with the shutdown may have seen a reset; the next ones are refused.
      await vi.waitFor(
        () =>
          expect(health.state('victim/lmtp')).toMatchObject({
            up: false,
            probe: 'down',
            lastError: expect.stringMatching(/ECONNREFUSED/),
          }),
        5000,
      );
      expect(probes.snapshot()[0]).toMatchObject({
        available: false,
        failures: expect.any(Number),
      });

      await victim.resume();
      await vi.waitFor(() => expect(verdicts(probes.snapshot())).toEqual(all(true)), 5000);
      expect(health.isDown('victim/imap')).toBe(false);
      expect(changes.filter((c) => c.startsWith('victim/imap'))).toEqual([
        'victim/imap up',
        'victim/imap down',
        'victim/imap up',
      ]);
    } finally {
      await probes.stop();
      await victim.destroy();
    }
  });

  it('marks IMAP and POP3 down when the probe login fails; LMTP has no login', async () => {
    const endpoints = {
      imap: plain(dovecot.imapPort),
      pop3: plain(dovecot.pop3Port),
      lmtp: plain(dovecot.lmtpPort),
    };
    const wrong = probesFor(
      catalogOf({ a: { endpoints, probeLogin: { user: 'probe', password: 'wrong' } } }),
    );
    const states = await wrong.probes.probeNow();
    expect(verdicts(states)).toEqual({ 'a/imap': false, 'a/pop3': false, 'a/lmtp': true });
    expect(states[0]?.lastError).toMatch(/^login refused: "NO \[AUTHENTICATIONFAILED\]/);
    expect(states[1]?.lastError).toMatch(/^login refused: "-ERR/);
    expect(wrong.health.isDown('a/imap')).toBe(true);
    expect(JSON.stringify(states)).not.toContain('wrong');

    const right = probesFor(catalogOf({ a: { endpoints, probeLogin: probeUser } }));
    expect(verdicts(await right.probes.probeNow('A'))).toEqual({
      'a/imap': true,
      'a/pop3': true,
      'a/lmtp': true,
    });
    await expect
      .poll(() => dovecot.log(), { timeout: 5000 })
      .toMatch(/imap-login: Info: Login: user=<probe>/);
    await expect
      .poll(() => dovecot.log(), { timeout: 5000 })
      .toMatch(/pop3-login: Info: Login: user=<probe>/);
  });

  it('handshakes implicit TLS with the configured CA, and refuses a certificate it cannot verify', async () => {
    const endpoints = {
      imap: plain(dovecot.imapsPort, { tls: 'implicit' }),
      pop3: plain(dovecot.pop3sPort, { tls: 'implicit' }),
    };
    const { probes } = probesFor(
      catalogOf({
        trusted: { endpoints, tls: { verify: true, caFile: certs.caCert } },
        untrusted: { endpoints, tls: { verify: true } },
      }),
    );
    const states = await probes.probeNow();
    expect(verdicts(states)).toEqual({
      'trusted/imap': true,
      'trusted/pop3': true,
      'untrusted/imap': false,
      'untrusted/pop3': false,
    });
    expect(states[2]?.lastError).toMatch(/^TLS handshake: .*certificate/i);
  });

  it('logs in over STARTTLS where the endpoint asks for it', async () => {
    const before = dovecot.log().length;
    const { probes } = probesFor(
      catalogOf({
        secured: {
          endpoints: {
            imap: plain(dovecot.imapPort, { tls: 'starttls' }),
            pop3: plain(dovecot.pop3Port, { tls: 'starttls' }),
          },
          tls: { verify: true, caFile: certs.caCert, servername: 'localhost' },
          probeLogin: probeUser,
        },
      }),
    );
    expect(verdicts(await probes.probeNow())).toEqual({
      'secured/imap': true,
      'secured/pop3': true,
    });
    const log = dovecot.log().slice(before);
    expect(log).toMatch(/imap-login: Info: Login: user=<probe>, .*\bTLS\b/);
    expect(log).toMatch(/pop3-login: Info: Login: user=<probe>, .*\bTLS\b/);
  });

  it('sends a PROXY v2 LOCAL header to a listener that expects one', async () => {
    const port = dovecot.imapProxyPort;
    const { probes } = probesFor(
      catalogOf({
        local: { endpoints: { imap: plain(port, { forward: 'proxy' }) } },
        bare: { endpoints: { imap: plain(port) } },
      }),
      { timeoutMs: 1000 },
    );
    const states = await probes.probeNow();
    expect(verdicts(states)).toEqual({ 'local/imap': true, 'bare/imap': false });
  });

  it('leaves no socket open after stop(), with probes under way', async () => {
    // Sockets of earlier tests are destroyed but their handles close a moment later.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const baseline = openSockets();
    const { probes } = probesFor(
      catalogOf({
        busy: {
          endpoints: {
            imap: plain(dovecot.imapPort),
            pop3: plain(dovecot.pop3sPort, { tls: 'implicit' }),
            lmtp: plain(dovecot.lmtpPort),
          },
          tls: { verify: true, caFile: certs.caCert },
          probeLogin: probeUser,
        },
        // Dovecot waits for a PROXY header here: this probe is still waiting at stop().
        stuck: { endpoints: { imap: plain(dovecot.imapProxyPort) } },
      }),
      { intervalMs: 20, jitter: 0.5, timeoutMs: 10_000 },
    );
    const busy = () => probes.snapshot().filter((s) => s.backend === 'busy');
    probes.start();
    await vi.waitFor(
      () => expect(Math.min(...busy().map((s) => s.probes))).toBeGreaterThan(5),
      10_000,
    );
    expect(openSockets()).toBeGreaterThan(baseline);
    await probes.stop();
    const counts = probes.snapshot().map((s) => s.probes);
    await vi.waitFor(() => expect(openSockets()).toBe(baseline), 2000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(openSockets()).toBe(baseline);
    expect(probes.snapshot().map((s) => s.probes)).toEqual(counts);
    expect(busy().every((s) => s.up)).toBe(true);
    expect(probes.snapshot().find((s) => s.backend === 'stuck')).toMatchObject({
      up: undefined,
      probes: 0,
    });
  });
});
