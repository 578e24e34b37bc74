import type { Server } from 'node:net';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  type Limits,
  type ListenerSpec,
  noMetrics,
  ServerTls,
  SessionRegistry,
} from '@homing/proxy-core';
import {
  type Certificates,
  Dovecot,
  freePort,
  makeCertificates,
  Slapd,
  tempDir,
} from '@homing/testkit';
import { type Bindings, type ChildLoggerOptions, type Logger, pino } from 'pino';
import { MemoryJournal, type SmtpListenerOptions, startSmtpListener } from '../src/index.js';

export const limits: Limits = {
  ...defaultLimits,
  backendConnectTimeoutMs: 1000,
  directoryTimeoutMs: 1000,
  idleTimeoutMs: 5000,
  lineTimeoutMs: 2500,
};
export const maxMessageBytes = 200_000;

type Kind = 'mx' | 'fanout' | 'lmtp' | 'proxied';

/** slapd + Dovecot A (alice, carol, dave over quota) + Dovecot B (bob) + homing SMTP/LMTP listeners. */
export class SmtpCluster {
  readonly log: string[] = [];
  readonly registry = new SessionRegistry();
  readonly health = new BackendHealth({ backoffMinMs: 100, backoffMaxMs: 300 });
  /** What the listeners reported, as `protocol outcome` → count. */
  readonly counted = {
    recipients: new Map<string, number>(),
    messages: new Map<string, number>(),
    /** New connections to each backend (`mbox-a lmtp`), successful ones only. */
    backendConnects: new Map<string, number>(),
  };
  ports: Record<Kind, number> = { mx: 0, fanout: 0, lmtp: 0, proxied: 0 };
  servers: Server[] = [];
  readonly journal = new MemoryJournal({ retentionMs: 60_000, maxEntries: 100 });

  private constructor(
    readonly certs: Certificates,
    readonly slapd: Slapd,
    readonly a: Dovecot,
    readonly b: Dovecot,
    readonly directory: Directory,
    readonly dir: { path: string; remove(): void },
  ) {}

  static async start(): Promise<SmtpCluster> {
    const dir = tempDir('smtp-cluster');
    const certs = makeCertificates(dir.path);
    const [slapd, a, b] = await Promise.all([
      Slapd.start([
        {
          uid: 'alice',
          mail: 'alice@example.com',
          password: 'x',
          mailHost: 'mbox-a',
          aliases: ['a.smith@example.com'],
        },
        { uid: 'bob', mail: 'bob@example.com', password: 'x', mailHost: 'mbox-b' },
        { uid: 'carol', mail: 'carol@example.com', password: 'x', mailHost: 'mbox-a' },
        { uid: 'dave', mail: 'dave@example.com', password: 'x', mailHost: 'mbox-a' },
        // in LDAP but not on the mailbox server: the backend refuses it itself
        { uid: 'ghost', mail: 'ghost@example.com', password: 'x', mailHost: 'mbox-a' },
      ]),
      Dovecot.start({
        name: 'A',
        users: [
          { user: 'alice@example.com', password: 'x' },
          { user: 'carol@example.com', password: 'x' },
          { user: 'dave@example.com', password: 'x', quota: '1K' },
        ],
      }),
      Dovecot.start({ name: 'B', users: [{ user: 'bob@example.com', password: 'x' }] }),
    ]);
    const tls = { verify: true, caFile: certs.caCert };
    const catalog = new Catalog({
      backends: {
        'mbox-a': {
          host: '127.0.0.1',
          endpoints: { lmtp: { port: a.lmtpPort, tls: 'none', forward: 'xclient' } },
          tls,
        },
        'mbox-b': {
          host: '127.0.0.1',
          // DATA here, BDAT (Dovecot offers CHUNKING) on mbox-a: both ways are tested.
          endpoints: { lmtp: { port: b.lmtpPort, tls: 'none', forward: 'none', chunking: false } },
          tls,
        },
      },
      literalDefaults: {},
      literalTls: tls,
      allowLiteral: false,
    });
    const directory = new Directory({
      source: new LdapSource({
        ...slapd.sourceOptions(),
        timeoutMs: 1000,
        connectTimeoutMs: 500,
        filter: '(|(mail={address})(mailLocalAddress={address}))',
      }),
      catalog,
      rules: defaultAddressRules,
      cache: { maxEntries: 1000, ttlMs: 60_000, negativeTtlMs: 0, staleIfErrorMs: 3_600_000 },
    });
    const cluster = new SmtpCluster(certs, slapd, a, b, directory, dir);
    await cluster.#listen();
    return cluster;
  }

  async #listen(): Promise<void> {
    const log = this.#countChildren(
      pino({ level: 'debug' }, { write: (line: string) => this.log.push(line) }),
    );
    const serverTls = new ServerTls([{ cert: this.certs.cert, key: this.certs.key }]);
    for (const kind of Object.keys(this.ports) as Kind[]) this.ports[kind] = await freePort();
    const spec = (kind: Kind): ListenerSpec => ({
      name: kind,
      host: '127.0.0.1',
      port: this.ports[kind],
      tls: 'starttls',
      proxyProtocol: kind === 'proxied',
      trustedProxies: new AddressSet(kind === 'proxied' ? ['127.0.0.0/8'] : []),
    });
    const common: Omit<SmtpListenerOptions, 'spec' | 'kind' | 'policy'> = {
      directory: this.directory,
      health: this.health,
      limits,
      registry: this.registry,
      tls: serverTls,
      hostname: 'homing.test',
      maxMessageBytes,
      maxRecipients: 50,
      maxReceived: 30,
      smtputf8: true,
      dsn: false,
      isOwnAddress: () => false,
      metrics: {
        ...noMetrics,
        smtpRecipient: (protocol, outcome) =>
          bump(this.counted.recipients, `${protocol} ${outcome}`),
        smtpMessage: (protocol, outcome) => bump(this.counted.messages, `${protocol} ${outcome}`),
        backendConnect: (backend, protocol, _seconds, ok) => {
          if (ok) bump(this.counted.backendConnects, `${backend} ${protocol}`);
        },
      },
      log,
    };
    this.servers = await Promise.all([
      startSmtpListener({ ...common, spec: spec('mx'), kind: 'mx', policy: 'single' }),
      startSmtpListener({
        ...common,
        spec: spec('fanout'),
        kind: 'mx',
        policy: 'fanout',
        journal: this.journal,
      }),
      startSmtpListener({ ...common, spec: spec('lmtp'), kind: 'lmtp', policy: 'fanout' }),
      startSmtpListener({ ...common, spec: spec('proxied'), kind: 'mx', policy: 'single' }),
    ]);
  }

  /** Loggers made from the listeners' (their own, and each session's that was asked for). */
  loggersMade = 0;

  #countChildren(log: Logger, make = log.child as unknown as MakeChild): Logger {
    const counted = (bindings: Bindings, options?: ChildLoggerOptions): Logger => {
      this.loggersMade += 1;
      return this.#countChildren(make.call(log, bindings, options), make);
    };
    log.child = counted as unknown as Logger['child'];
    return log;
  }

  /** Messages in a user's maildir whose text contains `marker`. */
  delivered(user: string, marker: string): string[] {
    const server = user.startsWith('bob') ? this.b : this.a;
    return server.readMessages(user).filter((m) => m.includes(marker));
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) s.close();
    this.registry.kickAll('test over');
    await this.directory.close();
    await Promise.all([this.slapd.destroy(), this.a.destroy(), this.b.destroy()]);
    this.dir.remove();
  }
}

/** pino's own `child`, called on the logger it makes a child of. */
type MakeChild = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
