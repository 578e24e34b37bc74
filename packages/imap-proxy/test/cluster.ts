import type { Server } from 'node:net';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  type Limits,
  type ListenerSpec,
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
import { pino } from 'pino';
import { startImapListener } from '../src/index.js';

export const password = (user: string) => `${user.split('@')[0]}-pw`;

export const limits: Limits = {
  ...defaultLimits,
  // Dovecot answers a failed login within 0.5 s; the floor must be above that to hide it.
  failedLoginDelayMs: 700,
  idleTimeoutMs: 1500,
  lineTimeoutMs: 2500,
  backendConnectTimeoutMs: 1000,
  directoryTimeoutMs: 1000,
  lineBytes: 8192,
  literalBytes: 16_384,
  commands: 50,
};

/** slapd + Dovecot A (alice, carol; with TLS) + Dovecot B (bob) + homing's IMAP listeners. */
export class Cluster {
  readonly log: string[] = [];
  readonly registry = new SessionRegistry();
  readonly health = new BackendHealth({ backoffMinMs: 200, backoffMaxMs: 1000 });
  servers: Server[] = [];
  ports = { plain: 0, implicit: 0, proxied: 0, strict: 0 };

  private constructor(
    readonly certs: Certificates,
    readonly slapd: Slapd,
    readonly a: Dovecot,
    readonly b: Dovecot,
    readonly directory: Directory,
    readonly dir: { path: string; remove(): void },
  ) {}

  static async start(): Promise<Cluster> {
    const dir = tempDir('imap-cluster');
    const certs = makeCertificates(dir.path, ['imap.example.com']);
    const dovecotUsers = (names: string[]) =>
      names.map((user) => ({ user, password: password(user) }));
    const [slapd, a, b] = await Promise.all([
      Slapd.start([
        { uid: 'alice', mail: 'alice@example.com', password: 'ldap-pw', mailHost: 'mbox-a' },
        { uid: 'bob', mail: 'bob@example.com', password: 'ldap-pw', mailHost: 'mbox-b' },
        {
          uid: 'carol',
          mail: 'carol@example.com',
          password: 'carol-ldap-pw',
          mailHost: 'mbox-a-master',
        },
        { uid: 'loop', mail: 'loop@example.com', password: 'x', mailHost: 'self' },
        { uid: 'gone', mail: 'gone@example.com', password: 'x', mailHost: 'mbox-dead' },
      ]),
      Dovecot.start({
        name: 'A',
        users: dovecotUsers(['alice@example.com', 'carol@example.com']),
        tls: certs,
        masterUser: { user: 'homing-master', password: 'master-pw' },
      }),
      Dovecot.start({ name: 'B', users: dovecotUsers(['bob@example.com']) }),
    ]);
    const deadPort = await freePort();
    const ports = {
      plain: await freePort(),
      implicit: await freePort(),
      proxied: await freePort(),
      strict: await freePort(),
    };
    const tls = { verify: true, caFile: certs.caCert };
    const catalog = new Catalog({
      backends: {
        'mbox-a': {
          host: '127.0.0.1',
          endpoints: { imap: { port: a.imapPort, tls: 'starttls', forward: 'id' } },
          tls,
        },
        'mbox-a-master': {
          host: '127.0.0.1',
          endpoints: { imap: { port: a.imapsPort as number, tls: 'implicit', forward: 'id' } },
          tls,
          master: { user: 'homing-master', password: 'master-pw' },
        },
        'mbox-b': {
          host: '127.0.0.1',
          endpoints: { imap: { port: b.imapPort, tls: 'none', forward: 'id' } },
          tls,
        },
        self: {
          host: '127.0.0.1',
          endpoints: { imap: { port: ports.plain, tls: 'none', forward: 'none' } },
          tls,
        },
        'mbox-dead': {
          host: '127.0.0.1',
          endpoints: { imap: { port: deadPort, tls: 'none', forward: 'none' } },
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
        filter: '(|(uid={address})(mail={address}))',
      }),
      catalog,
      rules: defaultAddressRules,
      cache: { maxEntries: 1000, ttlMs: 60_000, negativeTtlMs: 0, staleIfErrorMs: 3_600_000 },
    });
    const cluster = new Cluster(certs, slapd, a, b, directory, dir);
    cluster.ports = ports;
    await cluster.#listen();
    return cluster;
  }

  async #listen(): Promise<void> {
    const serverTls = new ServerTls([{ cert: this.certs.cert, key: this.certs.key }]);
    const log = pino({ level: 'debug' }, { write: (line: string) => this.log.push(line) });
    const own = new Set(Object.values(this.ports));
    const spec = (
      name: string,
      port: number,
      tls: ListenerSpec['tls'],
      proxyProtocol = false,
    ): ListenerSpec => ({
      name,
      host: '127.0.0.1',
      port,
      tls,
      proxyProtocol,
      trustedProxies: new AddressSet(proxyProtocol ? ['127.0.0.0/8'] : []),
    });
    const common = {
      directory: this.directory,
      health: this.health,
      limits,
      registry: this.registry,
      tls: serverTls,
      oauth: false,
      isOwnAddress: (host: string, port: number) => host === '127.0.0.1' && own.has(port),
      log,
    };
    this.servers = await Promise.all([
      startImapListener({
        ...common,
        spec: spec('plain', this.ports.plain, 'starttls'),
        allowPlaintext: true,
      }),
      startImapListener({
        ...common,
        spec: spec('implicit', this.ports.implicit, 'implicit'),
        allowPlaintext: false,
      }),
      startImapListener({
        ...common,
        spec: spec('proxied', this.ports.proxied, 'starttls', true),
        allowPlaintext: true,
      }),
      startImapListener({
        ...common,
        spec: spec('strict', this.ports.strict, 'starttls'),
        allowPlaintext: false,
      }),
    ]);
  }

  /** Log lines of homing (JSON) that contain `text`. */
  logged(text: string): string[] {
    return this.log.filter((line) => line.includes(text));
  }

  async destroy(): Promise<void> {
    this.registry.kickAll('test over');
    for (const s of this.servers) s.close();
    await this.directory.close();
    await Promise.all([this.slapd.destroy(), this.a.destroy(), this.b.destroy()]);
    this.dir.remove();
  }
}
