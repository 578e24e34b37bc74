import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { Directory } from '@homing/directory';
import { startImapListener } from '@homing/imap-proxy';
import { startManageSieveListener } from '@homing/managesieve-proxy';
import { startPop3Listener } from '@homing/pop3-proxy';
import {
  type AbuseGuard,
  AddressSet,
  Admission,
  BackendHealth,
  type Limits,
  type ListenerSpec,
  type ProbeState,
  type ProxyMetrics,
  ServerTls,
  SessionRegistry,
  sourceAddresses,
  steeringAvailable,
  steerListener,
} from '@homing/proxy-core';
import { type DeliveryJournal, startSmtpListener } from '@homing/smtp-proxy';
import type { Logger } from 'pino';
import { splitListen } from './admin.js';
import { type Capacity, raiseDescriptorLimit, sessionCapacity } from './capacity.js';
import type { Config } from './config/schema.js';
import { journalKey, journalWarning, openJournal } from './journal.js';
import type { ListenerConnections } from './operator-metrics.js';
import { reusePortFor } from './reuse-port.js';

type ListenerConfig = Config['listeners'][number];

const TICKET_KEY_BYTES = 48;

/** The pool's session-ticket key: exactly 48 bytes, as Node and nginx's 48-byte keys have. */
function ticketKeys(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  const key = readFileSync(file);
  if (key.length !== TICKET_KEY_BYTES) {
    throw new Error(
      `${file}: a session ticket key file holds ${TICKET_KEY_BYTES} bytes (openssl rand ${TICKET_KEY_BYTES}), not ${key.length}`,
    );
  }
  return key;
}

function listenerName(l: ListenerConfig): string {
  return l.name ?? `${l.protocol}@${l.listen}`;
}

interface Running {
  readonly server: Server;
  readonly fingerprint: string;
  /** It has a socket of its own in the pool's SO_REUSEPORT group (reuse-port.ts). */
  readonly reusePort: boolean;
}

/** A reload's listeners and certificates, ready: switched to all at once, or undone. */
export interface ListenerChange {
  commit(): Promise<void>;
  rollback(): void;
}

/** What makes two listener entries the same server: SMTP ones also take the smtp settings. */
function fingerprint(l: ListenerConfig, config: Config): string {
  const spliced = ['imap', 'pop3', 'managesieve'].includes(l.protocol);
  const smtp = spliced ? undefined : config.smtp;
  return JSON.stringify({ l, smtp });
}

/** Puts the listener's name in front of an error (EADDRINUSE says only the address). */
function named(key: string): (error: unknown) => never {
  return (error) => {
    throw new Error(`listener ${key}: ${error instanceof Error ? error.message : String(error)}`);
  };
}

/** `host port` of a listen address, however it was written. */
function address(listen: string): string {
  const { host, port } = splitListen(listen);
  return `${host} ${port}`;
}

export function limitsFrom(config: Config): Limits {
  const l = config.limits;
  return {
    lineBytes: l.line_bytes,
    idLineBytes: l.id_line_bytes,
    literalBytes: l.literal_bytes,
    commands: l.commands,
    idleTimeoutMs: l.idle_timeout,
    lineTimeoutMs: l.line_timeout,
    authTimeoutMs: l.auth_timeout,
    failedLoginDelayMs: l.failed_login_delay,
    backendConnectTimeoutMs: l.backend_connect_timeout,
    backendLoginTimeoutMs: l.backend_login_timeout,
    backendCommandTimeoutMs: l.backend_command_timeout,
    backendDataTimeoutMs: l.backend_data_timeout,
    directoryTimeoutMs: l.directory_timeout,
    proxyHeaderTimeoutMs: l.proxy_header_timeout,
    tcpKeepaliveMs: l.tcp_keepalive,
  };
}

/** True when host:port is one of this node's listeners: a route there would loop. */
function ownAddressCheck(config: Config): (host: string, port: number) => boolean {
  const local = new Set(['localhost', '127.0.0.1', '::1']);
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) local.add(a.address);
  }
  const listeners = config.listeners.map((l) => splitListen(l.listen));
  return (host, port) =>
    listeners.some(
      (l) =>
        l.port === port &&
        (l.host === host || ((l.host === '0.0.0.0' || l.host === '::') && local.has(host))),
    );
}

/**
 * The node's client-facing listeners, kept in step with the config: `apply` starts new ones,
 * closes removed ones and restarts changed ones. Closing a listener stops new connections
 * only; its sessions go on. Directory, limits and certificates are read live by sessions,
 * so a reload changes them without touching any session.
 */
export class ListenerSet {
  readonly registry = new SessionRegistry();
  readonly health: BackendHealth;
  readonly limits: Limits;
  /** Abuse limits; replaced by a reload, read by listeners at each connection. */
  guard: AbuseGuard | undefined;
  /** The health probes' last word on each backend, set by the node once it has probes. */
  probeStates: () => readonly ProbeState[] = () => [];
  /** Raised to the hard limit once, at start: the base of this process's capacity. */
  readonly descriptors = raiseDescriptorLimit();
  readonly admission = new Admission();
  capacity: Capacity | undefined;
  /** The MX delivery journal; replaced by a reload that changes its settings. */
  #journal: DeliveryJournal;
  #journalKey: string;
  #tls: ServerTls | undefined;
  #isOwnAddress: (host: string, port: number) => boolean;
  readonly #servers = new Map<string, Running>();
  /** Where the pool's primary last said new connections go (worker-balance.ts); unset: hash. */
  #filling: boolean | undefined;
  /** A listener could not be steered: the pool spreads (its primary hears it as not steerable). */
  #steerRefused = false;
  /** Per listener name; kept across restarts so the counts only grow. */
  readonly #connections = new Map<string, { protocol: string; accepted: number; open: number }>();

  constructor(
    config: Config,
    readonly directory: () => Directory,
    readonly metrics: ProxyMetrics,
    readonly log: Logger,
  ) {
    this.limits = limitsFrom(config);
    this.health = new BackendHealth({
      backoffMinMs: config.backend_health.backoff_min,
      backoffMaxMs: config.backend_health.backoff_max,
    });
    this.#isOwnAddress = ownAddressCheck(config);
    this.#journal = openJournal(config);
    this.#journalKey = journalKey(config);
    const warning = journalWarning(config);
    if (warning) log.warn(warning);
  }

  get size(): number {
    return this.#servers.size;
  }

  /**
   * Whether every listener can be steered: sockets of their own, the native module, and no
   * refusal by the kernel so far.
   */
  get steerable(): boolean {
    if (this.#steerRefused || !steeringAvailable()) return false;
    return [...this.#servers.values()].every((running) => running.reusePort);
  }

  /** What the listeners were last told: fill one worker (true), spread (false), or nothing. */
  get filling(): boolean | undefined {
    return this.#filling;
  }

  /**
   * Where the kernel puts the next connections of every listener's SO_REUSEPORT group: one
   * worker (`fill`) or all by its hash. Listeners started later (a reload) are told at start.
   */
  steer(fill: boolean): boolean {
    this.#filling = fill;
    for (const running of this.#servers.values()) this.#steer(running);
    return !this.#steerRefused;
  }

  #steer(running: Running): void {
    if (!running.reusePort || this.#filling === undefined) return;
    if (steerListener(running.server, this.#filling)) return;
    if (!this.#steerRefused)
      this.log.warn('worker_balance: a listener could not be steered; the pool spreads');
    this.#steerRefused = true;
  }

  /** Prepares and switches at once: the node's start, where there is nothing to keep. */
  async apply(config: Config): Promise<void> {
    await (await this.prepare(config)).commit();
  }

  /**
   * Loads the certificates and binds the new listeners of `config` without changing what runs,
   * so that a reload fails before it has switched anything. Listeners to restart on an address
   * a running one holds can only bind once that one is closed: at commit.
   */
  async prepare(config: Config): Promise<ListenerChange> {
    const fresh = config.tls
      ? new ServerTls(
          config.tls.certificates,
          config.tls.min_version,
          ticketKeys(config.tls.session_ticket_keys),
        )
      : undefined;
    // Listeners keep the object they started with; adopt() gives it the new files at commit.
    const tls = this.#tls ?? fresh;
    const wanted = new Map(config.listeners.map((l) => [`${l.protocol} ${l.listen}`, l]));
    const stale = [...this.#servers]
      .filter(([key, running]) => {
        const next = wanted.get(key);
        return !next || fingerprint(next, config) !== running.fingerprint;
      })
      .map(([key]) => key);
    const freed = new Set(stale.map((key) => address(key.slice(key.indexOf(' ') + 1))));
    const bound = new Map<string, Running>();
    const later: [string, ListenerConfig][] = [];
    try {
      for (const [key, l] of wanted) {
        if (this.#servers.has(key) && !stale.includes(key)) continue;
        if (freed.has(address(l.listen))) later.push([key, l]);
        else bound.set(key, await this.#bind(l, config, tls).catch(named(key)));
      }
    } catch (error) {
      for (const { server } of bound.values()) server.close();
      throw error;
    }
    return {
      rollback: () => {
        for (const { server } of bound.values()) server.close();
      },
      commit: async () => {
        Object.assign(this.limits, limitsFrom(config));
        this.#isOwnAddress = ownAddressCheck(config);
        if (journalKey(config) !== this.#journalKey) {
          const old = this.#journal;
          this.#journal = openJournal(config);
          this.#journalKey = journalKey(config);
          // Transactions under way keep the one they started with.
          setTimeout(() => void old.close(), 60_000).unref();
        }
        this.#setCapacity(config);
        sourceAddresses.set(
          config.backend_defaults.source_addresses,
          Object.fromEntries(
            Object.entries(config.backends).flatMap(([name, b]) =>
              b.source_addresses ? [[name, b.source_addresses]] : [],
            ),
          ),
        );
        if (fresh && this.#tls) this.#tls.adopt(fresh);
        else this.#tls ??= fresh;
        for (const key of stale) {
          this.#servers.get(key)?.server.close();
          this.#servers.delete(key);
          this.log.info(
            { listener: key },
            wanted.has(key) ? 'listener changed: restarting it' : 'listener removed',
          );
        }
        for (const [key, running] of bound) this.#started(key, running, wanted.get(key));
        for (const [key, l] of later) {
          try {
            this.#started(key, await this.#bind(l, config, this.#tls), l);
          } catch (error) {
            this.log.error({ listener: key, err: error }, 'listener could not restart');
          }
        }
      },
    };
  }

  /** Once no session is left: the journal's connection (Redis) goes. */
  async close(): Promise<void> {
    await this.#journal.close();
  }

  /** Stops accepting connections on every listener; sessions go on. */
  stopAccepting(): void {
    for (const { server } of this.#servers.values()) server.close();
    this.#servers.clear();
  }

  #setCapacity(config: Config): void {
    const { descriptor_reserve: reserve, max_sessions: max } = config.limits;
    const capacity = sessionCapacity(this.descriptors, reserve, max);
    const before = this.capacity;
    this.capacity = capacity;
    this.admission.capacity = capacity.sessions;
    if (before?.sessions === capacity.sessions && before.derived === capacity.derived) return;
    const count = (n: number) => (Number.isFinite(n) ? n : 'unbounded');
    this.log.info(
      {
        descriptors: this.descriptors ? count(this.descriptors.soft) : 'unknown',
        descriptor_reserve: reserve,
        derived: count(capacity.derived),
        max_sessions: max,
        sessions: count(capacity.sessions),
      },
      'session capacity',
    );
  }

  /** Connections per listener, for the metrics. */
  connections(): ListenerConnections[] {
    return [...this.#connections].map(([listener, c]) => ({ listener, ...c }));
  }

  /** TLS handshakes with clients that failed (IMAP, POP3). */
  get tlsHandshakeFailures(): number {
    return this.#tls?.handshakeFailures ?? 0;
  }

  #count(server: Server, l: ListenerConfig): void {
    const name = listenerName(l);
    let entry = this.#connections.get(name);
    if (!entry) {
      entry = { protocol: l.protocol, accepted: 0, open: 0 };
      this.#connections.set(name, entry);
    }
    const counts = entry;
    // One function for every socket; 'close' comes once, so on() spares once()'s wrapper.
    const closed = () => {
      counts.open -= 1;
    };
    server.on('connection', (socket: import('node:net').Socket) => {
      counts.accepted += 1;
      counts.open += 1;
      socket.on('close', closed);
    });
  }

  #started(key: string, running: Running, l: ListenerConfig | undefined): void {
    this.#servers.set(key, running);
    this.#steer(running);
    if (l) this.#count(running.server, l);
    this.log.info({ listener: key, tls: l?.tls, proxy_protocol: l?.proxy_protocol }, 'listening');
  }

  async #bind(l: ListenerConfig, config: Config, tls: ServerTls | undefined): Promise<Running> {
    return {
      server: await this.#start(l, config, tls),
      fingerprint: fingerprint(l, config),
      reusePort: reusePortFor(splitListen(l.listen).port),
    };
  }

  #start(l: ListenerConfig, config: Config, tls: ServerTls | undefined): Promise<Server> {
    const { host, port } = splitListen(l.listen);
    const spec: ListenerSpec = {
      name: listenerName(l),
      host,
      port,
      tls: l.tls,
      proxyProtocol: l.proxy_protocol,
      trustedProxies: new AddressSet(l.trusted_proxies),
      reusePort: reusePortFor(port),
    };
    const set = this;
    // Getters, not values: a reload swaps the directory and sessions read it when they need it.
    const common = {
      spec,
      get directory() {
        return set.directory();
      },
      health: this.health,
      limits: this.limits,
      registry: this.registry,
      tls,
      isOwnAddress: (h: string, p: number) => set.#isOwnAddress(h, p),
      metrics: this.metrics,
      get guard() {
        return set.guard;
      },
      admission: this.admission,
      log: this.log,
      allowPlaintext: l.allow_plaintext_auth,
      oauth: l.oauth,
    };
    if (l.protocol === 'imap') return startImapListener(common);
    if (l.protocol === 'pop3') return startPop3Listener(common);
    if (l.protocol === 'managesieve') {
      // Pre-login CAPABILITY lists the Sieve extensions the probes found on every backend.
      const probedCapabilities = () =>
        set
          .probeStates()
          .filter((s) => s.protocol === 'managesieve' && s.capabilities !== undefined)
          .map((s) => ({ backend: s.backend, lines: s.capabilities ?? [] }));
      return startManageSieveListener(Object.assign(common, { probedCapabilities }));
    }
    const smtp = config.smtp;
    return startSmtpListener(
      Object.assign(common, {
        kind: l.protocol === 'smtp' ? ('mx' as const) : l.protocol,
        hostname: smtp.hostname ?? hostname(),
        maxMessageBytes: smtp.max_message_size,
        maxRecipients: smtp.max_recipients,
        maxReceived: smtp.max_received,
        policy: l.policy,
        smtputf8: smtp.smtputf8,
        dsn: smtp.dsn,
        get journal() {
          return set.#journal;
        },
        fingerprintBytes: smtp.journal.fingerprint_bytes,
        backendPool: {
          maxIdlePerBackend: smtp.backend_pool.max_idle,
          idleTimeoutMs: smtp.backend_pool.idle_timeout,
        },
        greetingDelayMs: l.greeting_delay,
        submission: {
          mode: l.submission_mode,
          smarthost: smtp.smarthost && {
            host: smtp.smarthost.host,
            port: smtp.smarthost.port,
            tls: smtp.smarthost.tls,
            verify: smtp.smarthost.verify,
            caFile: smtp.smarthost.ca_file,
          },
          allowPlaintext: l.allow_plaintext_auth,
          oauth: l.oauth,
        },
      }),
    );
  }
}
