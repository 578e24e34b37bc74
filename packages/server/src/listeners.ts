import type { Server } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { Directory } from '@homing/directory';
import { startImapListener } from '@homing/imap-proxy';
import { startPop3Listener } from '@homing/pop3-proxy';
import {
  type AbuseGuard,
  AddressSet,
  BackendHealth,
  type Limits,
  type ListenerSpec,
  type ProxyMetrics,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import { type DeliveryJournal, startSmtpListener } from '@homing/smtp-proxy';
import type { Logger } from 'pino';
import { splitListen } from './admin.js';
import type { Config } from './config/schema.js';
import { journalKey, journalWarning, openJournal } from './journal.js';
import { reusePortFor } from './reuse-port.js';

type ListenerConfig = Config['listeners'][number];

export function limitsFrom(config: Config): Limits {
  const l = config.limits;
  return {
    lineBytes: l.line_bytes,
    literalBytes: l.literal_bytes,
    commands: l.commands,
    idleTimeoutMs: l.idle_timeout,
    authTimeoutMs: l.auth_timeout,
    failedLoginDelayMs: l.failed_login_delay,
    backendConnectTimeoutMs: l.backend_connect_timeout,
    backendLoginTimeoutMs: l.backend_login_timeout,
    proxyHeaderTimeoutMs: l.proxy_header_timeout,
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
  #tls: ServerTls | undefined;
  #config: Config;
  /** The MX delivery journal; replaced by a reload that changes its settings. */
  #journal: DeliveryJournal;
  #journalKey: string;
  #isOwnAddress: (host: string, port: number) => boolean;
  readonly #servers = new Map<string, { server: Server; fingerprint: string }>();

  constructor(
    config: Config,
    readonly directory: () => Directory,
    readonly metrics: ProxyMetrics,
    readonly log: Logger,
  ) {
    this.#config = config;
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

  async apply(config: Config): Promise<void> {
    this.#config = config;
    Object.assign(this.limits, limitsFrom(config));
    this.#isOwnAddress = ownAddressCheck(config);
    if (journalKey(config) !== this.#journalKey) {
      const old = this.#journal;
      this.#journal = openJournal(config);
      this.#journalKey = journalKey(config);
      // Transactions under way keep the one they started with.
      setTimeout(() => void old.close(), 60_000).unref();
    }
    if (config.tls) {
      if (this.#tls) this.#tls.reload(config.tls.certificates, config.tls.min_version);
      else this.#tls = new ServerTls(config.tls.certificates, config.tls.min_version);
    }
    const wanted = new Map(config.listeners.map((l) => [`${l.protocol} ${l.listen}`, l]));
    for (const [key, running] of this.#servers) {
      const next = wanted.get(key);
      if (!next || this.#fingerprint(next) !== running.fingerprint) {
        running.server.close();
        this.#servers.delete(key);
        this.log.info(
          { listener: key },
          next ? 'listener changed: restarting it' : 'listener removed',
        );
      }
    }
    for (const [key, l] of wanted) {
      if (this.#servers.has(key)) continue;
      const server = await this.#start(l);
      this.#servers.set(key, { server, fingerprint: this.#fingerprint(l) });
      this.log.info({ listener: key, tls: l.tls, proxy_protocol: l.proxy_protocol }, 'listening');
    }
  }

  /** Stops accepting connections on every listener; sessions go on. */
  stopAccepting(): void {
    for (const { server } of this.#servers.values()) server.close();
    this.#servers.clear();
  }

  /** Once no session is left: the journal's connection (Redis) goes. */
  async close(): Promise<void> {
    await this.#journal.close();
  }

  #fingerprint(l: ListenerConfig): string {
    const smtp = l.protocol === 'imap' || l.protocol === 'pop3' ? undefined : this.#config.smtp;
    return JSON.stringify({ l, smtp });
  }

  #start(l: ListenerConfig): Promise<Server> {
    const { host, port } = splitListen(l.listen);
    const spec: ListenerSpec = {
      name: l.name ?? `${l.protocol}@${l.listen}`,
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
      tls: this.#tls,
      isOwnAddress: (h: string, p: number) => set.#isOwnAddress(h, p),
      metrics: this.metrics,
      get guard() {
        return set.guard;
      },
      log: this.log,
      allowPlaintext: l.allow_plaintext_auth,
      oauth: l.oauth,
    };
    if (l.protocol === 'imap') return startImapListener(common);
    if (l.protocol === 'pop3') return startPop3Listener(common);
    const smtp = this.#config.smtp;
    return startSmtpListener(
      Object.assign(common, {
        kind: l.protocol === 'smtp' ? ('mx' as const) : l.protocol,
        hostname: smtp.hostname ?? hostname(),
        maxMessageBytes: smtp.max_message_size,
        maxRecipients: smtp.max_recipients,
        maxReceived: smtp.max_received,
        policy: l.policy,
        get journal() {
          return set.#journal;
        },
        fingerprintBytes: smtp.journal.fingerprint_bytes,
        backendPool: {
          maxIdlePerBackend: smtp.backend_pool.max_idle,
          idleTimeoutMs: smtp.backend_pool.idle_timeout,
        },
        greetingDelayMs: l.greeting_delay,
        smtputf8: smtp.smtputf8,
        dsn: smtp.dsn,
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
