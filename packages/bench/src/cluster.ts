import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Dovecot,
  freePorts,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { HomingProcess } from './homing-process.js';
import type { Side } from './turns.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** Lets the bench start a full garbage collection in homing (SIGUSR2) before it reads RSS. */
const collectGarbage = fileURLToPath(new URL('./collect-garbage.mjs', import.meta.url));

export interface BenchUser {
  readonly address: string;
  readonly password: string;
}

/** What the bench compares, each straight to Dovecot and through homing. */
export type Service = 'imap' | 'pop3' | 'smtp';

/** slapd, one Dovecot (backend `mbox-a`) and a homing node in front of it, all on loopback. */
export interface Cluster {
  readonly slapd: Slapd;
  readonly dovecot: Dovecot;
  readonly homing: HomingProcess;
  /**
   * Each service's port on either side: Dovecot's IMAP, POP3 and LMTP direct; homing's IMAP,
   * POP3 and SMTP (MX) listeners, which lead to those.
   */
  readonly ports: Record<Service, Record<Side, number>>;
}

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
  cleanup: Cleanup,
): Promise<Cluster> {
  const dir = tempDir('bench');
  cleanup.add(() => dir.remove());
  const slapdStart = Slapd.start(
    users.map((u) => ({
      uid: u.address.split('@')[0] ?? u.address,
      mail: u.address,
      password: u.password,
      mailHost: 'mbox-a',
    })),
  );
  const dovecotStart = Dovecot.start({
    name: 'A',
    users: users.map((u) => ({ user: u.address, password: u.password })),
  });
  // Both are awaited before either can throw past here, so neither is left running.
  const [slapd, dovecot] = await Promise.allSettled([slapdStart, dovecotStart]);
  if (slapd.status === 'fulfilled') cleanup.add(() => slapd.value.destroy());
  if (dovecot.status === 'fulfilled') cleanup.add(() => dovecot.value.destroy());
  if (slapd.status === 'rejected') throw slapd.reason;
  if (dovecot.status === 'rejected') throw dovecot.reason;

  const [imap, pop3, smtp] = (await freePorts(3)) as [number, number, number];
  const homingPorts: Record<Service, number> = { imap, pop3, smtp };
  const config = join(dir.path, 'homing.yaml');
  writeFileSync(config, homingConfig(slapd.value.url, homingPorts, dovecot.value));
  const homing = await HomingProcess.start(config, join(dir.path, 'homing.log'), repoRoot, [
    '--expose-gc',
    '--import',
    collectGarbage,
    ...(process.env.HOMING_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  ]);
  cleanup.add(() => homing.stop());
  const direct = dovecot.value;
  return {
    slapd: slapd.value,
    dovecot: direct,
    homing,
    ports: {
      imap: { direct: direct.imapPort, homing: homingPorts.imap },
      pop3: { direct: direct.pop3Port, homing: homingPorts.pop3 },
      smtp: { direct: direct.lmtpPort, homing: homingPorts.smtp },
    },
  };
}

/**
 * One process (workers: 1), so that its RSS and CPU time are all of homing's. Logging at info,
 * homing's default: that is what a node in service does, and the "homing ready"
 * line the bench waits for is an info line. Each session writes two lines. The client address
 * reaches Dovecot as it would in service: IMAP ID, POP3 XCLIENT; the MX adds a Received header.
 */
function homingConfig(ldapUrl: string, ports: Record<Service, number>, dovecot: Dovecot): string {
  return `log: { level: info, format: json }
workers: 1
directory:
  source: ldap
  ldap:
    urls: [${ldapUrl}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
listeners:
  - protocol: imap
    listen: 127.0.0.1:${ports.imap}
    tls: none
    allow_plaintext_auth: true
  - protocol: pop3
    listen: 127.0.0.1:${ports.pop3}
    tls: none
    allow_plaintext_auth: true
  - protocol: smtp
    listen: 127.0.0.1:${ports.smtp}
    tls: none
limits:
  failed_login_delay: 2s
# every bench client comes from 127.0.0.1: no per-address or per-user limits
abuse:
  max_connections_per_address: 0
  max_sessions_per_user: 0
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort}, tls: none, forward: id }
    pop3: { port: ${dovecot.pop3Port}, tls: none, forward: xclient }
    lmtp: { port: ${dovecot.lmtpPort}, tls: none }
`;
}
