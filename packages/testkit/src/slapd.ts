import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { freePort, waitForPort } from './ports.js';
import { Daemon, stopProcess } from './process.js';
import { ensureDebianPackages } from './system.js';
import { tempDir } from './tmp.js';

export const slapdSuffix = 'dc=example,dc=com';
export const slapdAdminDn = `cn=admin,${slapdSuffix}`;
export const slapdAdminPassword = 'admin-secret';
export const slapdServiceDn = `cn=homing,ou=services,${slapdSuffix}`;
export const slapdServicePassword = 'service-secret';

export interface LdapUser {
  uid: string;
  mail: string;
  password: string;
  mailHost?: string;
  mailRoutingAddress?: string;
  aliases?: string[];
}

/** A real OpenLDAP server on a free loopback port, its data and config in a temp dir. */
export class Slapd {
  readonly url: string;
  readonly #daemon: Daemon;
  readonly #dir: { path: string; remove(): void };

  private constructor(
    readonly port: number,
    dir: { path: string; remove(): void },
  ) {
    this.url = `ldap://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#daemon = new Daemon(
      'slapd',
      ['-f', join(dir.path, 'slapd.conf'), '-h', `${this.url}/`, '-d', '0'],
      join(dir.path, 'slapd.log'),
    );
  }

  static async start(users: readonly LdapUser[]): Promise<Slapd> {
    ensureDebianPackages({ slapd: 'slapd', slapadd: 'slapd', ldapsearch: 'ldap-utils' });
    const dir = tempDir('slapd');
    mkdirSync(join(dir.path, 'data'));
    writeFileSync(join(dir.path, 'slapd.conf'), slapdConf(dir.path));
    writeFileSync(join(dir.path, 'data.ldif'), usersLdif(users));
    execFileSync(
      'slapadd',
      ['-q', '-f', join(dir.path, 'slapd.conf'), '-l', join(dir.path, 'data.ldif')],
      {
        stdio: 'pipe',
      },
    );
    const server = new Slapd(await freePort(), dir);
    await server.resume();
    return server;
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  /** Starts (again) on the same port with the same data. */
  async resume(): Promise<void> {
    this.#daemon.start();
    await waitForPort(this.port);
  }

  stop(): Promise<void> {
    return this.#daemon.stop();
  }

  kill(): Promise<void> {
    return this.#daemon.kill();
  }

  /** SIGSTOP: connections stay open but nothing is answered, like a hung server. */
  freeze(): void {
    const pid = this.#daemon.pid;
    if (pid === undefined) throw new Error('not running');
    stopProcess(pid);
  }

  /** SIGCONT: undoes `freeze`. */
  thaw(): void {
    this.#signal('SIGCONT');
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#daemon.pid;
    if (pid === undefined) throw new Error('slapd is not running');
    process.kill(pid, signal);
  }

  async destroy(): Promise<void> {
    await this.#daemon.kill();
    this.#dir.remove();
  }

  /**
   * Settings for homing's LDAP source pointing at this server: the service bind, the people
   * subtree, users found by uid or mail and homed by mailHost. Tests override what they test.
   */
  sourceOptions() {
    return {
      urls: [this.url],
      bindDn: slapdServiceDn,
      bindPassword: slapdServicePassword,
      startTls: false,
      tls: { verify: true },
      timeoutMs: 2000,
      connectTimeoutMs: 1000,
      baseDn: `ou=people,${slapdSuffix}`,
      scope: 'sub' as const,
      filter: '(|(uid={address})(mail={address})(mailLocalAddress={address}))',
      loginAttributes: ['mail'],
      homeAttribute: 'mailHost',
      extraAttributes: [] as string[],
    };
  }

  /** Completed search operations, from slapd's monitor backend (counted at the server). */
  async completedSearches(): Promise<number> {
    const client = new Client({ url: this.url, timeout: 5000 });
    try {
      await client.bind(slapdAdminDn, slapdAdminPassword);
      const { searchEntries } = await client.search('cn=Search,cn=Operations,cn=Monitor', {
        scope: 'base',
        attributes: ['monitorOpCompleted'],
      });
      return Number(searchEntries[0]?.monitorOpCompleted);
    } finally {
      await client.unbind().catch(() => {});
    }
  }
}

function slapdConf(dir: string): string {
  const schema = ['core', 'cosine', 'inetorgperson', 'misc'];
  return [
    ...schema.map((s) => `include /etc/ldap/schema/${s}.schema`),
    `pidfile ${dir}/slapd.pid`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'database mdb',
    `suffix "${slapdSuffix}"`,
    `rootdn "${slapdAdminDn}"`,
    `rootpw ${slapdAdminPassword}`,
    `directory ${dir}/data`,
    'maxsize 104857600',
    'index uid,mail,mailLocalAddress eq',
    'access to attrs=userPassword by anonymous auth by self read by * none',
    'access to * by * read',
    'database monitor',
    `access to * by dn.exact="${slapdAdminDn}" read by * none`,
    '',
  ].join('\n');
}

function usersLdif(users: readonly LdapUser[]): string {
  const blocks = [
    `dn: ${slapdSuffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ou=people,${slapdSuffix}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=services,${slapdSuffix}\nobjectClass: organizationalUnit\nou: services`,
    [
      `dn: ${slapdServiceDn}`,
      'objectClass: applicationProcess',
      'objectClass: simpleSecurityObject',
      'cn: homing',
      `userPassword: ${slapdServicePassword}`,
    ].join('\n'),
    ...users.map((u) =>
      [
        `dn: uid=${u.uid},ou=people,${slapdSuffix}`,
        'objectClass: inetOrgPerson',
        'objectClass: inetLocalMailRecipient',
        `uid: ${u.uid}`,
        `cn: ${u.uid}`,
        `sn: ${u.uid}`,
        `mail: ${u.mail}`,
        `userPassword: ${u.password}`,
        ...(u.mailHost ? [`mailHost: ${u.mailHost}`] : []),
        ...(u.mailRoutingAddress ? [`mailRoutingAddress: ${u.mailRoutingAddress}`] : []),
        ...(u.aliases ?? []).map((a) => `mailLocalAddress: ${a}`),
      ].join('\n'),
    ),
  ];
  return `${blocks.join('\n\n')}\n`;
}
