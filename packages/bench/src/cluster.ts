import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeHasReusePort } from '@homing/server';
import {
  Dovecot,
  freePorts,
  makeCertificates,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import type { ProcessGroup } from './cpu.js';
import { startHaproxy } from './haproxy.js';
import { HomingProcess } from './homing-process.js';
import { startNginx } from './nginx.js';
import type { PipeSpec } from './pipe.js';
import {
  type Placement,
  pinnedPrefix,
  pinProcessTree,
  priorityPrefix,
  proxyWorkers,
} from './placement.js';
import { ServiceProcess } from './service-process.js';
import { comparedSides, loginSides, type Side, transferSides } from './turns.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** Lets the bench start a full garbage collection in homing (SIGUSR2) before it reads RSS. */
const collectGarbage = fileURLToPath(new URL('./collect-garbage.mjs', import.meta.url));
const authHttpScript = fileURLToPath(new URL('./auth-http.ts', import.meta.url));
const pipeScript = fileURLToPath(new URL('./pipe.ts', import.meta.url));

export interface BenchUser {
  readonly address: string;
  readonly password: string;
}

/**
 * The home of the `index`-th bench user: two backends for homing's MX to route between, both
 * the one Dovecot under two names.
 */
export function benchHome(index: number): 'mbox-a' | 'mbox-b' {
  return index % 2 === 0 ? 'mbox-a' : 'mbox-b';
}

/** The client-facing listeners every side has for IMAP and POP3. */
export type Listener = 'imap' | 'imaps' | 'pop3' | 'pop3s';
const listeners: readonly Listener[] = ['imap', 'imaps', 'pop3', 'pop3s'];

/**
 * slapd, one Dovecot (backend `mbox-a`, tuned as large sites run it) and, in front of it, a
 * homing node, nginx's mail proxy with its auth_http service, the bare pipe and HAProxy; all
 * on loopback.
 */
export interface Cluster {
  readonly slapd: Slapd;
  readonly dovecot: Dovecot;
  /** The homing measured: `workers` as many as nginx's worker processes. */
  readonly homing: HomingProcess;
  /** The same homing with `workers: 1`, on ports of its own (side `homing/1`). */
  readonly homingAlone: HomingProcess;
  /** nginx's worker processes, and the measured homing's workers. */
  readonly proxyWorkers: number;
  /** The sides of most rows: direct, nginx, homing, pipe. */
  readonly sides: readonly Side[];
  /**
   * The sides of the login rows: those and, when homing has workers, `homing/1` and `pipes` (the
   * pipe in as many processes; with Node 22.12 and later, which give each its own socket).
   */
  readonly loginSides: readonly Side[];
  /** The sides of the plaintext FETCH and RETR rows: `sides` and HAProxy's splice. */
  readonly transferSides: readonly Side[];
  /** The test CA the clients check every side's certificate against. */
  readonly caPem: string;
  /** Each listener's port on each side: Dovecot's own (direct), or the proxy's. */
  readonly ports: Record<Listener, Record<Side, number>>;
  /**
   * Dovecot's LMTP (direct) and the MX listener of each homing: the SMTP part runs through the
   * one-process node (`homing/1`).
   */
  readonly smtp: { readonly direct: number; readonly homing: number; readonly 'homing/1': number };
  /** The processes whose CPU each side's rows count: none for direct. */
  readonly processes: Record<Side, readonly ProcessGroup[]>;
  /**
   * Another homing node on the same slapd and Dovecot, on ports of its own, with `workers`;
   * stopped by the cluster's cleanup if not before.
   */
  startHoming(
    name: string,
    workers: Workers,
    sources: readonly string[],
  ): Promise<{ homing: HomingProcess; imapPort: number }>;
}

/** homing's `workers` setting: a count, or `auto` (one per CPU). */
export type Workers = number | 'auto';

/** Things to stop, newest first; each runs once even if `run` is called again (Ctrl-C). */
export class Cleanup {
  readonly #steps: (() => Promise<void> | void)[] = [];

  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

export function benchUser(name: string): BenchUser {
  return { address: `${name}@example.com`, password: `${name}-pw` };
}

export async function startCluster(
  users: readonly BenchUser[],
  placement: Placement,
  cleanup: Cleanup,
  /** The proxies' nice value (priorityFrom). */
  priority: number,
): Promise<Cluster> {
  const dir = tempDir('bench');
  cleanup.add(() => dir.remove());
  const certs = makeCertificates(dir.path);
  const slapdStart = Slapd.start(
    users.map((u, i) => ({
      uid: u.address.split('@')[0] ?? u.address,
      mail: u.address,
      password: u.password,
      mailHost: benchHome(i),
    })),
  );
  const dovecotStart = Dovecot.start({
    name: 'A',
    users: users.map((u) => ({ user: u.address, password: u.password })),
    tls: { cert: certs.cert, key: certs.key },
    tuned: true,
    // Listeners that take a PROXY header: nginx's way to hand over the client's address.
    haproxy: true,
  });
  // Both are awaited before either can throw past here, so neither is left running.
  const [slapd, dovecot] = await Promise.allSettled([slapdStart, dovecotStart]);
  if (slapd.status === 'fulfilled') cleanup.add(() => slapd.value.destroy());
  if (dovecot.status === 'fulfilled') cleanup.add(() => dovecot.value.destroy());
  if (slapd.status === 'rejected') throw slapd.reason;
  if (dovecot.status === 'rejected') throw dovecot.reason;
  const direct = dovecot.value;

  const free = await freePorts(27);
  const take = (): number => free.shift() as number;
  const four = (): Record<Listener, number> => ({
    imap: take(),
    imaps: take(),
    pop3: take(),
    pop3s: take(),
  });
  const homingPorts = four();
  const alonePorts = four();
  const nginxPorts = four();
  const pipePorts = four();
  const pipesPorts = four();
  const haproxyPorts = four();
  const smtpPort = take();
  const aloneSmtpPort = take();
  const authPort = take();
  // One session-ticket key for all of a homing's processes, as nginx shares its own among its
  // workers: a ticket one worker issued resumes on the other.
  const ticketKeys = join(dir.path, 'ticket-keys');
  writeFileSync(ticketKeys, randomBytes(48));

  const nodeArgs = [
    '--expose-gc',
    '--import',
    collectGarbage,
    ...(process.env.HOMING_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  ];
  const homingNode = async (
    name: string,
    ports: Record<Listener, number>,
    smtp: number,
    workers: Workers,
    sources: readonly string[],
    balance: HomingConfig['balance'] = 'fill',
  ) => {
    const config = join(dir.path, `${name}.yaml`);
    writeFileSync(
      config,
      homingConfig({
        ldapUrl: slapd.value.url,
        ports,
        smtpPort: smtp,
        dovecot: direct,
        certs,
        ticketKeys,
        workers,
        sources,
        balance,
        priority,
      }),
    );
    const started = await HomingProcess.start(
      config,
      join(dir.path, `${name}.log`),
      repoRoot,
      nodeArgs,
    );
    cleanup.add(() => started.stop());
    pinProcessTree(placement, started.pid);
    return { homing: started, config };
  };
  const workers = proxyWorkers(placement);
  const { homing, config } = await homingNode('homing', homingPorts, smtpPort, workers, []);
  const { homing: homingAlone } = await homingNode('homing-1', alonePorts, aloneSmtpPort, 1, []);
  const startHoming = async (name: string, workers: Workers, sources: readonly string[]) => {
    const [imap, imaps, pop3, pop3s, smtp] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    // Spread from the first session: a filled worker keeps its lead and would be full first,
    // and the idle part fills every worker to its capacity.
    const ports = { imap, imaps, pop3, pop3s };
    const other = await homingNode(name, ports, smtp, workers, sources, 'spread');
    return { homing: other.homing, imapPort: imap };
  };

  const prefix = [...pinnedPrefix(placement), ...priorityPrefix(priority)];
  const nodeService = async (name: string, script: string, args: string[], ready: string) => {
    const [command, ...rest] = [...prefix, process.execPath, '--import', 'tsx', script, ...args];
    const service = await ServiceProcess.start({
      name,
      command: command as string,
      args: rest,
      cwd: repoRoot,
      logFile: join(dir.path, `${name}.log`),
      ready: (s) => s.logged(ready),
    });
    cleanup.add(() => service.stop());
    return service;
  };
  const authHttp = await nodeService(
    'auth_http',
    authHttpScript,
    [
      config,
      String(authPort),
      JSON.stringify({
        [direct.imapPort]: direct.imapProxyPort,
        [direct.pop3Port]: direct.pop3ProxyPort,
      }),
    ],
    'auth_http ready',
  );
  const pipeSpec = (ports: Record<Listener, number>, pool?: PipeSpec['pool']): PipeSpec => ({
    listeners: listeners.map((listener) => ({
      protocol: listener.startsWith('imap') ? 'imap' : 'pop3',
      port: ports[listener],
      tls: listener.endsWith('s'),
      backendPort: listener.startsWith('imap') ? direct.imapPort : direct.pop3Port,
    })),
    cert: certs.cert,
    key: certs.key,
    ...(pool ? { pool } : {}),
  });
  const pipe = await nodeService(
    'pipe',
    pipeScript,
    [JSON.stringify(pipeSpec(pipePorts))],
    'pipe ready',
  );
  // The pipe in as many processes as homing has workers, when each can have a socket of its own.
  const pipesServe = workers > 1 && nodeHasReusePort();
  const pipes: ServiceProcess[] = [];
  for (let n = 1; pipesServe && n <= workers; n += 1) {
    const spec = JSON.stringify(pipeSpec(pipesPorts, { ticketKeys }));
    pipes.push(await nodeService(`pipes-${n}`, pipeScript, [spec], 'pipe ready'));
  }

  const nginxDir = join(dir.path, 'nginx');
  mkdirSync(nginxDir);
  const nginx = await startNginx({
    dir: nginxDir,
    ports: nginxPorts,
    authPort,
    cert: certs.cert,
    key: certs.key,
    workers,
    prefix,
  });
  cleanup.add(() => nginx.stop());

  const directPorts: Record<Listener, number> = {
    imap: direct.imapPort,
    imaps: direct.imapsPort as number,
    pop3: direct.pop3Port,
    pop3s: direct.pop3sPort as number,
  };
  const haproxyDir = join(dir.path, 'haproxy');
  mkdirSync(haproxyDir);
  const haproxy = await startHaproxy({
    dir: haproxyDir,
    routes: listeners.map((l) => ({ port: haproxyPorts[l], backendPort: directPorts[l] })),
    threads: workers,
    prefix,
  });
  cleanup.add(() => haproxy.stop());
  const byListener = (listener: Listener): Record<Side, number> => ({
    direct: directPorts[listener],
    nginx: nginxPorts[listener],
    homing: homingPorts[listener],
    'homing/1': alonePorts[listener],
    pipe: pipePorts[listener],
    pipes: pipesPorts[listener],
    haproxy: haproxyPorts[listener],
  });
  return {
    slapd: slapd.value,
    dovecot: direct,
    homing,
    homingAlone,
    proxyWorkers: workers,
    sides: comparedSides,
    loginSides: loginSides(workers, pipesServe),
    transferSides,
    caPem: certs.caCertPem,
    ports: {
      imap: byListener('imap'),
      imaps: byListener('imaps'),
      pop3: byListener('pop3'),
      pop3s: byListener('pop3s'),
    },
    smtp: { direct: direct.lmtpPort, homing: smtpPort, 'homing/1': aloneSmtpPort },
    processes: {
      direct: [],
      nginx: [nginx, authHttp],
      homing: [homing],
      'homing/1': [homingAlone],
      pipe: [pipe],
      pipes,
      haproxy: [haproxy],
    },
    startHoming,
  };
}

/** What the bench writes a homing node's config from. */
export interface HomingConfig {
  readonly ldapUrl: string;
  readonly ports: Record<Listener, number>;
  readonly smtpPort: number;
  readonly dovecot: Pick<Dovecot, 'imapPort' | 'pop3Port' | 'lmtpPort'>;
  readonly certs: { readonly cert: string; readonly key: string };
  /** A file of 48 random bytes: the session-ticket key every process of the node shares. */
  readonly ticketKeys: string;
  readonly workers: Workers;
  readonly sources: readonly string[];
  /** `worker_balance.new_connections`: homing's default, fill, but for the idle part. */
  readonly balance: 'fill' | 'spread';
  /** `process_priority`, left out at 0. */
  readonly priority: number;
}

/**
 * A bench homing node's config. The measured node has as many workers as nginx has worker
 * processes (one per CPU in the default placement, as `workers: auto`; 1 with BENCH_CPUS=split),
 * the `homing/1` side one process; the idle part starts one with workers of its own. Logging at
 * info, homing's default: that is what a node in service does, and the "homing ready" line the
 * bench waits for is an info line. Each session writes two lines. The client address reaches
 * Dovecot as it would in service: IMAP ID, POP3 XCLIENT; the MX adds a Received header.
 */
export function homingConfig(c: HomingConfig): string {
  const { ports, dovecot, certs } = c;
  return `log: { level: info, format: json }
workers: ${c.workers}
worker_balance: { new_connections: ${c.balance} }
${c.priority === 0 ? '' : `process_priority: ${c.priority}\n`}directory:
  source: ldap
  ldap:
    urls: [${c.ldapUrl}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
tls:
  certificates:
    - { cert: ${certs.cert}, key: ${certs.key} }
  session_ticket_keys: ${c.ticketKeys}
listeners:
  - protocol: imap
    listen: 127.0.0.1:${ports.imap}
    tls: none
    allow_plaintext_auth: true
  - protocol: imap
    listen: 127.0.0.1:${ports.imaps}
    tls: implicit
  - protocol: pop3
    listen: 127.0.0.1:${ports.pop3}
    tls: none
    allow_plaintext_auth: true
  - protocol: pop3
    listen: 127.0.0.1:${ports.pop3s}
    tls: implicit
  - protocol: smtp
    listen: 127.0.0.1:${c.smtpPort}
    tls: none
limits:
  failed_login_delay: 2s
# every bench client comes from 127.0.0.1: no per-address or per-user limits
abuse:
  max_connections_per_address: 0
  max_sessions_per_user: 0
backend_defaults:
  source_addresses: [${c.sources.join(', ')}]
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort}, tls: none, forward: id }
    pop3: { port: ${dovecot.pop3Port}, tls: none, forward: xclient }
    lmtp: { port: ${dovecot.lmtpPort}, tls: none }
  # The same Dovecot under a second name: a message for users on both is two backend
  # transactions through homing (one Dovecot keeps the direct side comparable on two cores).
  mbox-b:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort}, tls: none, forward: id }
    pop3: { port: ${dovecot.pop3Port}, tls: none, forward: xclient }
    lmtp: { port: ${dovecot.lmtpPort}, tls: none }
`;
}
