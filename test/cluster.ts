// One cluster for the cross-package tests: real OpenLDAP, two real Dovecot mailbox servers (A
// and B, each INBOX holding a message that names its server) and a real homing process with a
// listener for every protocol in front of them. Dovecot A also runs a submission service that
// hands mail on to homing's MX, so a submitted message crosses homing twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Certificates,
  Dovecot,
  freePort,
  makeCertificates,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';

const homing = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'homing.js');
const protocols = ['imap', 'pop3', 'managesieve', 'smtp', 'lmtp', 'submission'] as const;
export type Protocol = (typeof protocols)[number];

export const people = [
  { uid: 'alice', home: 'mbox-a' },
  { uid: 'bob', home: 'mbox-b' },
] as const;
export const mail = (uid: string) => `${uid}@example.com`;
export const secret = (uid: string) => `${uid}-pw`;

export interface Cluster {
  readonly ports: Record<Protocol, number>;
  readonly certs: Certificates;
  readonly a: Dovecot;
  readonly b: Dovecot;
  /** homing's log so far (JSON lines). */
  log(): string;
  stop(): Promise<void>;
}

const usersOf = (home: string) =>
  people
    .filter((p) => p.home === home)
    .map((p) => ({ user: mail(p.uid), password: secret(p.uid) }));

export async function startCluster(): Promise<Cluster> {
  const dir = tempDir('protocols');
  const certs = makeCertificates(dir.path);
  const ports = {} as Record<Protocol, number>;
  for (const p of protocols) ports[p] = await freePort();
  const [slapd, a, b] = await Promise.all([
    Slapd.start(
      people.map((p) => ({
        uid: p.uid,
        mail: mail(p.uid),
        password: secret(p.uid),
        mailHost: p.home,
      })),
    ),
    Dovecot.start({
      name: 'A',
      sieve: true,
      users: usersOf('mbox-a'),
      submission: { relayHost: '127.0.0.1', relayPort: ports.smtp },
    }),
    Dovecot.start({ name: 'B', sieve: true, users: usersOf('mbox-b') }),
  ]);
  const listeners = protocols
    .map(
      (p) =>
        `  - protocol: ${p}\n    listen: 127.0.0.1:${ports[p]}\n    tls: starttls\n` +
        (p === 'smtp' ? '    policy: single\n' : '') +
        (p === 'smtp' || p === 'lmtp' ? '' : '    allow_plaintext_auth: true\n'),
    )
    .join('');
  const backend = (d: Dovecot) =>
    `    host: 127.0.0.1
    imap: { port: ${d.imapPort}, forward: id }
    pop3: { port: ${d.pop3Port}, forward: xclient }
    lmtp: { port: ${d.lmtpPort}, forward: xclient }
    managesieve: { port: ${d.managesievePort}, forward: xclient }
${d.submissionPort ? `    submission: { port: ${d.submissionPort} }\n` : ''}`;
  const config = join(dir.path, 'homing.yaml');
  writeFileSync(
    config,
    `log:
  level: info
  format: json
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: \${HOMING_LDAP_PASSWORD}
    base_dn: ou=people,${slapdSuffix}
  addresses:
    default_domain: example.com
listeners:
${listeners}smtp:
  hostname: homing.test
tls:
  certificates:
    - cert: ${certs.cert}
      key: ${certs.key}
limits:
  failed_login_delay: 200ms
backends:
  mbox-a:
${backend(a)}  mbox-b:
${backend(b)}`,
  );
  const node: ChildProcess = spawn(process.execPath, [homing, 'start', '-c', config], {
    env: { ...process.env, HOMING_LDAP_PASSWORD: slapdServicePassword },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const collect = (chunk: Buffer) => {
    log += chunk.toString();
  };
  node.stdout?.on('data', collect);
  node.stderr?.on('data', collect);
  const stop = async () => {
    node.kill('SIGTERM');
    await Promise.all([slapd.destroy(), a.destroy(), b.destroy()]);
    dir.remove();
  };
  const deadline = Date.now() + 20_000;
  while (!log.includes('homing ready')) {
    if (Date.now() > deadline || node.exitCode !== null) {
      await stop();
      throw new Error(`homing did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ports, certs, a, b, log: () => log, stop };
}
