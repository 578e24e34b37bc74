import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Dovecot,
  freePort,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { HomingProcess } from './homing-process.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** Lets the bench start a full garbage collection in homing (SIGUSR2) before it reads RSS. */
const collectGarbage = fileURLToPath(new URL('./collect-garbage.mjs', import.meta.url));

export interface BenchUser {
  readonly address: string;
  readonly password: string;
}

/** slapd, one Dovecot (backend `mbox-a`) and a homing node in front of it, all on loopback. */
export interface Cluster {
  readonly slapd: Slapd;
  readonly dovecot: Dovecot;
  readonly homing: HomingProcess;
  /** homing's IMAP listener. */
  readonly homingPort: number;
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

  const homingPort = await freePort();
  const config = join(dir.path, 'homing.yaml');
  writeFileSync(config, homingConfig(slapd.value.url, homingPort, dovecot.value.imapPort));
  const homing = await HomingProcess.start(config, join(dir.path, 'homing.log'), repoRoot, [
    '--expose-gc',
    '--import',
    collectGarbage,
    ...(process.env.HOMING_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  ]);
  cleanup.add(() => homing.stop());
  return { slapd: slapd.value, dovecot: dovecot.value, homing, homingPort };
}

/**
 * One process (workers: 1), so that its RSS and CPU time are all of homing's. Logging at info,
 * homing's default: that is what a node in service does, and the "homing ready"
 * line the bench waits for is an info line. Each session writes two lines.
 */
function homingConfig(ldapUrl: string, port: number, dovecotImapPort: number): string {
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
    listen: 127.0.0.1:${port}
    tls: none
    allow_plaintext_auth: true
limits:
  failed_login_delay: 2s
# every bench client comes from 127.0.0.1: no per-address or per-user limits
abuse:
  max_connections_per_address: 0
  max_sessions_per_user: 0
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecotImapPort}, tls: none, forward: id }
`;
}
