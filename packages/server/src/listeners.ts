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
import { startSmtpListener } from '@homing/smtp-proxy';
import type { Logger } from 'pino';
import { splitListen } from './admin.js';
import type { Config } from './config/schema.js';
import { reusePortFor } from './reuse-port.js';

type ListenerConfig = Config['listeners'][number];

interface Running {
  readonly server: Server;
  readonly fingerprint: string;
}

/** A reload's listeners and certificates, ready: switched to all at once, or undone. */
export interface ListenerChange {
  commit(): Promise<void>;
  rollback(): void;
}

/** What makes two listener entries the same server: SMTP ones also take the smtp settings. */
function fingerprint(l: ListenerConfig, config: Config): string {
  const smtp = l.protocol === 'imap' || l.protocol === 'pop3' ? undefined : config.smtp;
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
  #isOwnAddress: (host: string, port: number) => boolean;
  readonly #servers = new Map<string, Running>();

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
  }

  get size(): number {
    return this.#servers.size;
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
      ? new ServerTls(config.tls.certificates, config.tls.min_version)
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

  /** Stops accepting connections on every listener; sessions go on. */
  stopAccepting(): void {
    for (const { server } of this.#servers.values()) server.close();
    this.#servers.clear();
  }

  #started(key: string, running: Running, l: ListenerConfig | undefined): void {
    this.#servers.set(key, running);
    this.log.info({ listener: key, tls: l?.tls, proxy_protocol: l?.proxy_protocol }, 'listening');
  }

  async #bind(l: ListenerConfig, config: Config, tls: ServerTls | undefined): Promise<Running> {
    return { server: await this.#start(l, config, tls), fingerprint: fingerprint(l, config) };
  }

  #start(l: ListenerConfig, config: Config, tls: ServerTls | undefined): Promise<Server> {
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
      tls,
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
