import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type {
  Backend,
  Catalog,
  Endpoint,
  MasterCredentials,
  Protocol,
  TlsMode,
} from '@homing/directory';
import { connectBackend } from './backend.js';
import type { BackendHealth } from './health.js';
import { LineReader } from './line-reader.js';
import { PROXY_V2_SIGNATURE } from './proxy-protocol.js';
import { backendTlsOptions, connectTls } from './tls.js';

export interface ProbeOptions {
  readonly catalog: Catalog;
  /** Where verdicts go: a failed probe marks `name/protocol` down, a passed one up. */
  readonly health: BackendHealth;
  /** Time between two probes of one endpoint, give or take `jitter` of it. */
  readonly intervalMs?: number;
  /** Fraction of the interval by which each wait is randomly longer or shorter (0 to 1). */
  readonly jitter?: number;
  /** One deadline for connect, TLS, greeting and the probe login. */
  readonly timeoutMs?: number;
  /** Failed probes in a row before an up backend is marked down. */
  readonly fall?: number;
  /** Passed probes in a row before a down backend is marked up. */
  readonly rise?: number;
  /** The protocols this node serves; endpoints of others are not probed. Default: all. */
  readonly protocols?: readonly Protocol[] | undefined;
  /** Called when an endpoint's verdict changes (its first verdict included), e.g. to log it. */
  readonly onChange?: ((state: ProbeState) => void) | undefined;
  readonly random?: () => number;
  readonly now?: () => number;
}

export const probeDefaults = {
  intervalMs: 10_000,
  jitter: 0.2,
  timeoutMs: 3000,
  fall: 1,
  rise: 1,
} as const;

/** One endpoint as /backends and the metrics show it. */
export interface ProbeState {
  /** `name/protocol`, the BackendHealth key. */
  readonly key: string;
  readonly backend: string;
  readonly protocol: Protocol;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  /** The probe logs in with the backend's probe account. */
  readonly login: boolean;
  /** The probes' verdict; undefined until there is one. */
  readonly up: boolean | undefined;
  /** Whether users are sent there now (probe verdict and passive backoff together). */
  readonly available: boolean;
  /** Probes run and failed since start: counters for the metrics. */
  readonly probes: number;
  readonly failures: number;
  /** When the last probe finished (epoch milliseconds), and how long it took to its verdict. */
  readonly lastProbeAt?: number;
  readonly latencyMs?: number;
  /** The last failure, kept after the backend is up again. */
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

interface Target {
  readonly key: string;
  readonly backend: Backend;
  readonly protocol: Protocol;
  readonly endpoint: Endpoint;
  readonly login: MasterCredentials | undefined;
}

interface Entry {
  target: Target;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  up: boolean | undefined;
  /** Passed probes in a row when positive, failed ones when negative. */
  streak: number;
  probes: number;
  failures: number;
  lastProbeAt?: number;
  latencyMs?: number;
  lastError?: string;
  lastErrorAt?: number;
}

/**
 * Active health checks: every endpoint of every catalog backend is connected to on a jittered
 * interval, its greeting checked (and, with a probe account, a login made), and the verdict fed
 * to BackendHealth, so that a dead backend's users get a fast temporary failure and a revived
 * one gets users back without waiting out a passive backoff.
 */
export class BackendProbes {
  readonly #health: BackendHealth;
  readonly #settings: Omit<Required<ProbeOptions>, 'catalog' | 'health' | 'protocols'>;
  readonly #protocols: ReadonlySet<Protocol> | undefined;
  readonly #entries = new Map<string, Entry>();
  /** Probes under way, those of endpoints just removed from the catalog included. */
  readonly #inFlight = new Set<Promise<void>>();
  /** Aborted by stop(): in-flight probes end and their results are dropped. */
  #halt = new AbortController();
  #started = false;

  constructor(options: ProbeOptions) {
    this.#health = options.health;
    this.#settings = {
      intervalMs: options.intervalMs ?? probeDefaults.intervalMs,
      jitter: options.jitter ?? probeDefaults.jitter,
      timeoutMs: options.timeoutMs ?? probeDefaults.timeoutMs,
      fall: options.fall ?? probeDefaults.fall,
      rise: options.rise ?? probeDefaults.rise,
      onChange: options.onChange ?? (() => {}),
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
    };
    const { intervalMs, jitter, timeoutMs, fall, rise } = this.#settings;
    if (!(intervalMs > 0) || !(timeoutMs > 0)) throw new RangeError('probe times must be > 0');
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError('probe jitter must be in [0, 1)');
    if (!Number.isInteger(fall) || !Number.isInteger(rise) || fall < 1 || rise < 1) {
      throw new RangeError('probe fall and rise must be whole numbers >= 1');
    }
    this.#protocols = options.protocols && new Set(options.protocols);
    this.setCatalog(options.catalog);
  }

  /** Follows a reloaded catalog: new endpoints are probed, removed ones forgotten. */
  setCatalog(catalog: Catalog): void {
    const targets = targetsOf(catalog, this.#protocols);
    for (const [key, entry] of this.#entries) {
      if (targets.has(key)) continue;
      clearTimeout(entry.timer);
      this.#entries.delete(key);
      this.#health.forget(key);
    }
    for (const [key, target] of targets) {
      const entry = this.#entries.get(key);
      if (entry) {
        entry.target = target;
        continue;
      }
      const fresh: Entry = {
        target,
        timer: undefined,
        running: undefined,
        up: undefined,
        streak: 0,
        probes: 0,
        failures: 0,
      };
      this.#entries.set(key, fresh);
      if (this.#started) this.#schedule(fresh, this.#firstDelay());
    }
  }

  /** Starts probing; the first probes are spread over the first `jitter` of an interval. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const entry of this.#entries.values()) this.#schedule(entry, this.#firstDelay());
  }

  /** Stops probing: clears the timers, ends the probes under way and waits for their sockets. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    const halt = this.#halt;
    this.#halt = new AbortController();
    halt.abort();
    await Promise.all(this.#inFlight);
  }

  /** Probes every endpoint (of one backend, if named) now; joins probes already under way. */
  async probeNow(backend?: string): Promise<ProbeState[]> {
    const entries = [...this.#entries.values()].filter(
      (e) => backend === undefined || e.target.backend.name.toLowerCase() === backend.toLowerCase(),
    );
    await Promise.all(entries.map((entry) => this.#run(entry)));
    return entries.map((entry) => this.#state(entry));
  }

  snapshot(): ProbeState[] {
    return [...this.#entries.values()].map((entry) => this.#state(entry));
  }

  #firstDelay(): number {
    const { intervalMs, jitter, random } = this.#settings;
    return random() * intervalMs * jitter;
  }

  #schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    const halt = this.#halt.signal;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#run(entry).finally(() => {
        if (halt.aborted || this.#entries.get(entry.target.key) !== entry) return;
        const { intervalMs, jitter, random } = this.#settings;
        this.#schedule(entry, intervalMs * (1 + jitter * (2 * random() - 1)));
      });
    }, delayMs);
    entry.timer.unref();
  }

  #run(entry: Entry): Promise<void> {
    if (entry.running) return entry.running;
    const running = this.#probe(entry).finally(() => {
      entry.running = undefined;
      this.#inFlight.delete(running);
    });
    entry.running = running;
    this.#inFlight.add(running);
    return running;
  }

  async #probe(entry: Entry): Promise<void> {
    const halt = this.#halt.signal;
    const { target } = entry;
    const started = performance.now();
    let error: string | undefined;
    let latencyMs: number;
    try {
      latencyMs = await probe(target, this.#settings.timeoutMs, halt);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      latencyMs = performance.now() - started;
    }
    if (halt.aborted || this.#entries.get(target.key) !== entry) return;
    this.#note(entry, error, latencyMs);
  }

  #note(entry: Entry, error: string | undefined, latencyMs: number): void {
    const { key } = entry.target;
    const { fall, rise, now } = this.#settings;
    const before = entry.up;
    entry.probes += 1;
    entry.lastProbeAt = now();
    entry.latencyMs = Math.round(latencyMs);
    if (error === undefined) {
      entry.streak = entry.streak > 0 ? entry.streak + 1 : 1;
      if (entry.up === undefined || entry.streak >= rise) entry.up = true;
      if (entry.up) this.#health.markUp(key);
    } else {
      entry.failures += 1;
      entry.lastError = error;
      entry.lastErrorAt = entry.lastProbeAt;
      entry.streak = entry.streak < 0 ? entry.streak - 1 : -1;
      if (-entry.streak >= fall) entry.up = false;
      if (entry.up === false) this.#health.markDown(key, error);
    }
    if (entry.up !== before) this.#settings.onChange(this.#state(entry));
  }

  #state(entry: Entry): ProbeState {
    const { key, backend, protocol, endpoint, login } = entry.target;
    const { lastProbeAt, latencyMs, lastError, lastErrorAt } = entry;
    return {
      key,
      backend: backend.name,
      protocol,
      host: backend.host,
      port: endpoint.port,
      tls: endpoint.tls,
      login: login !== undefined,
      up: entry.up,
      available: !this.#health.isDown(key),
      probes: entry.probes,
      failures: entry.failures,
      ...(lastProbeAt !== undefined ? { lastProbeAt } : {}),
      ...(latencyMs !== undefined ? { latencyMs } : {}),
      ...(lastError !== undefined ? { lastError, lastErrorAt } : {}),
    };
  }
}

function targetsOf(catalog: Catalog, only: ReadonlySet<Protocol> | undefined): Map<string, Target> {
  const targets = new Map<string, Target>();
  for (const name of catalog.names) {
    const backend = catalog.get(name);
    if (!backend) continue;
    const credentials = backend.probeLogin;
    const text = credentials ? `${credentials.user}${credentials.password}` : '';
    if (/[\r\n]/.test(text) || text.includes('\0')) {
      throw new Error(`backend ${name}: the probe login may not contain CR, LF or NUL`);
    }
    const endpoints = Object.entries(backend.endpoints) as [Protocol, Endpoint][];
    for (const [protocol, endpoint] of endpoints) {
      if (only && !only.has(protocol)) continue;
      const key = `${backend.name}/${protocol}`;
      const login = dialects[protocol].login ? credentials : undefined;
      targets.set(key, { key, backend, protocol, endpoint, login });
    }
  }
  return targets;
}

/** A failure worded for the operator; anything else thrown is prefixed with the probe's stage. */
class ProbeError extends Error {}

// A v2 LOCAL header: "the connection was established on purpose by the proxy without being
// relayed" (proxy-protocol.txt §2.2), for health checks: the backend uses the socket's addresses.
const PROXY_V2_LOCAL = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
const maxLineBytes = 8192;

/** One probe of one endpoint; resolves with the milliseconds it took to pass. */
async function probe(target: Target, timeoutMs: number, halt: AbortSignal): Promise<number> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onHalt = () => controller.abort(new Error('probes stopped'));
  halt.addEventListener('abort', onHalt, { once: true });
  const sockets: Socket[] = [];
  let stage = 'connect';
  try {
    const { backend, endpoint, protocol, login } = target;
    const tlsOptions = backendTlsOptions(backend.host, backend.tls);
    const signal = controller.signal;
    const plain = await connectBackend(
      { host: backend.host, port: endpoint.port, implicitTls: false, tlsOptions },
      signal,
    );
    sockets.push(plain.on('error', ignore));
    if (endpoint.forward === 'proxy') plain.write(PROXY_V2_LOCAL);
    let socket: Socket | TLSSocket = plain;
    if (endpoint.tls === 'implicit') {
      stage = 'TLS handshake';
      socket = await connectTls(plain, tlsOptions, signal);
      sockets.push(socket.on('error', ignore));
    }
    const talk = new Dialogue(socket, signal, tlsOptions, sockets);
    const dialect: Dialect = dialects[protocol];
    stage = 'greeting';
    await dialect.greeting(talk);
    if (login && dialect.login) {
      // The probe's password does not cross the wire in the clear where users' do not either.
      if (endpoint.tls === 'starttls' && dialect.startTls) {
        stage = 'STARTTLS';
        await dialect.startTls(talk);
      }
      stage = 'login';
      await dialect.login(talk, login);
    }
    const passedMs = performance.now() - started;
    await dialect.goodbye(talk).catch(ignore);
    return passedMs;
  } catch (error) {
    if (error instanceof ProbeError) throw error;
    const text = error instanceof Error ? error.message : String(error);
    throw new ProbeError(stage === 'connect' ? text : `${stage}: ${text}`);
  } finally {
    clearTimeout(timer);
    halt.removeEventListener('abort', onHalt);
    for (const socket of sockets) socket.destroy();
  }
}

function ignore(): void {}

/** Reads lines and writes commands on a probe connection, all under one deadline. */
class Dialogue {
  #reader: LineReader;
  #tag = 0;

  constructor(
    private socket: Socket | TLSSocket,
    private readonly signal: AbortSignal,
    private readonly tlsOptions: ConnectionOptions,
    private readonly sockets: Socket[],
  ) {
    this.#reader = new LineReader(socket, maxLineBytes);
  }

  async read(): Promise<string> {
    return (await this.#reader.readLine(this.signal)).toString('utf8');
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** Sends an IMAP command under a fresh tag; returns its tagged reply without the tag. */
  async imap(command: string): Promise<string> {
    this.#tag += 1;
    const tag = `p${this.#tag}`;
    this.send(`${tag} ${command}`);
    for (;;) {
      const line = await this.read();
      if (line.startsWith(`${tag} `)) return line.slice(tag.length + 1);
    }
  }

  /** TLS on the same connection, after the server agreed to STARTTLS / STLS. */
  async secure(): Promise<void> {
    // Bytes after the server's go-ahead and before the handshake could be injected: refuse.
    if (this.#reader.detach().length > 0) throw new ProbeError('STARTTLS: data before handshake');
    this.socket = await connectTls(this.socket as Socket, this.tlsOptions, this.signal);
    this.sockets.push(this.socket.on('error', ignore));
    this.#reader = new LineReader(this.socket, maxLineBytes);
  }
}

interface Dialect {
  greeting(talk: Dialogue): Promise<void>;
  startTls?(talk: Dialogue): Promise<void>;
  login?(talk: Dialogue, credentials: MasterCredentials): Promise<void>;
  goodbye(talk: Dialogue): Promise<void>;
}

/** Server text for an error message: printable, short. */
function clip(line: string): string {
  return JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line);
}

function must(line: string, pattern: RegExp, what: string): void {
  if (!pattern.test(line)) throw new ProbeError(`${what}: ${clip(line)}`);
}

/** An IMAP quoted string (../rfc/9051 §4.3); CR, LF and NUL were refused with the config. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

const IMAP_OK = /^OK\b/i;
const POP3_OK = /^\+OK\b/;

const imap: Dialect = {
  // ../rfc/9051 §7.1.1: OK greeting; PREAUTH is no use to a proxy and BYE is a refusal.
  greeting: async (talk) => must(await talk.read(), /^\* OK\b/i, 'greeting is not "* OK"'),
  // ../rfc/9051 §6.2.1
  startTls: async (talk) => {
    must(await talk.imap('STARTTLS'), IMAP_OK, 'STARTTLS refused');
    await talk.secure();
  },
  // ../rfc/9051 §6.2.3; the reply, never the command, goes into the error.
  login: async (talk, { user, password }) =>
    must(await talk.imap(`LOGIN ${quoted(user)} ${quoted(password)}`), IMAP_OK, 'login refused'),
  // ../rfc/9051 §6.1.3
  goodbye: async (talk) => {
    await talk.imap('LOGOUT');
  },
};

const pop3: Dialect = {
  // RFC 1939 §4
  greeting: async (talk) => must(await talk.read(), POP3_OK, 'greeting is not "+OK"'),
  // RFC 2595 §4
  startTls: async (talk) => {
    talk.send('STLS');
    must(await talk.read(), POP3_OK, 'STLS refused');
    await talk.secure();
  },
  // RFC 1939 §7
  login: async (talk, { user, password }) => {
    talk.send(`USER ${user}`);
    must(await talk.read(), POP3_OK, 'login refused');
    talk.send(`PASS ${password}`);
    must(await talk.read(), POP3_OK, 'login refused');
  },
  goodbye: async (talk) => {
    talk.send('QUIT');
    await talk.read();
  },
};

const smtp: Dialect = {
  // RFC 5321 §4.2: a greeting may span lines ("220-" before the last, "220 " on it); 554 refuses.
  greeting: async (talk) => {
    for (;;) {
      const line = await talk.read();
      if (/^220(?: |$)/.test(line)) return;
      must(line, /^220-/, 'greeting is not 220');
    }
  },
  // RFC 5321 §4.1.1.10
  goodbye: async (talk) => {
    talk.send('QUIT');
    await talk.read();
  },
};

const dialects = {
  imap,
  pop3,
  smtp,
  lmtp: smtp, // RFC 2033 §4.1: the same greeting as SMTP
  submission: smtp,
} satisfies Record<Protocol, Dialect>;
