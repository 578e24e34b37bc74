import type { Server } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { Directory } from '@homing/directory';
import { startImapListener } from '@homing/imap-proxy';
import { startPop3Listener } from '@homing/pop3-proxy';
import {
  AddressSet,
  BackendHealth,
  type Limits,
  type ListenerSpec,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import { startSmtpListener } from '@homing/smtp-proxy';
import type { Logger } from 'pino';
import { splitListen } from './admin.js';
import type { Config } from './config/schema.js';

export interface RunningListeners {
  readonly servers: Server[];
  readonly registry: SessionRegistry;
  readonly health: BackendHealth;
  close(): Promise<void>;
}

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

export async function startListeners(
  config: Config,
  directory: Directory,
  log: Logger,
): Promise<RunningListeners> {
  const tls = config.tls
    ? new ServerTls(config.tls.certificates, config.tls.min_version)
    : undefined;
  const limits = limitsFrom(config);
  const registry = new SessionRegistry();
  const health = new BackendHealth({
    backoffMinMs: config.backend_health.backoff_min,
    backoffMaxMs: config.backend_health.backoff_max,
  });
  const isOwnAddress = ownAddressCheck(config);
  const servers: Server[] = [];
  for (const l of config.listeners) {
    const { host, port } = splitListen(l.listen);
    const spec: ListenerSpec = {
      name: l.name ?? `${l.protocol}@${l.listen}`,
      host,
      port,
      tls: l.tls,
      proxyProtocol: l.proxy_protocol,
      trustedProxies: new AddressSet(l.trusted_proxies),
    };
    const common = { spec, directory, health, limits, registry, tls, isOwnAddress, log };
    const server =
      l.protocol === 'imap' || l.protocol === 'pop3'
        ? await (l.protocol === 'pop3' ? startPop3Listener : startImapListener)({
            ...common,
            allowPlaintext: l.allow_plaintext_auth,
            oauth: l.oauth,
          })
        : await startSmtpListener({
            ...common,
            kind: l.protocol === 'smtp' ? 'mx' : l.protocol,
            hostname: config.smtp.hostname ?? hostname(),
            maxMessageBytes: config.smtp.max_message_size,
            maxRecipients: config.smtp.max_recipients,
            maxReceived: config.smtp.max_received,
            policy: l.policy,
            smtputf8: config.smtp.smtputf8,
            dsn: config.smtp.dsn,
            submission: {
              mode: l.submission_mode,
              smarthost: config.smtp.smarthost && {
                host: config.smtp.smarthost.host,
                port: config.smtp.smarthost.port,
                tls: config.smtp.smarthost.tls,
                verify: config.smtp.smarthost.verify,
                caFile: config.smtp.smarthost.ca_file,
              },
              allowPlaintext: l.allow_plaintext_auth,
              oauth: l.oauth,
            },
          });
    servers.push(server);
    log.info({ listener: spec.name, tls: l.tls, proxy_protocol: l.proxy_protocol }, 'listening');
  }
  return {
    servers,
    registry,
    health,
    async close() {
      await Promise.all(
        servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}
