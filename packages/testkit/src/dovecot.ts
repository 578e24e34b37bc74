import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import { Daemon, startOnFreePorts } from './process.js';
import { ensureDebianPackages } from './system.js';
import { tempDir } from './tmp.js';

export interface DovecotUser {
  user: string;
  password: string;
  /** A storage quota such as `1K`: deliveries beyond it fail (LMTP answers 552 after DATA). */
  quota?: string;
}

export interface DovecotOptions {
  /** Names the backend in the marker message each INBOX starts with ("You are on backend A"). */
  name: string;
  users: readonly DovecotUser[];
  /** PEM files for the server; with them ssl = yes, STARTTLS and implicit-TLS listeners. */
  tls?: { cert: string; key: string };
  /** Allows `user*master` logins with this master user's password. */
  masterUser?: DovecotUser;
  /**
   * The personal namespace as clients see it: its hierarchy separator (Dovecot's maildir
   * default is '.') and Sent, Drafts, Trash, Junk and Archive with their RFC 6154 special uses.
   */
  namespace?: { separator?: string; specialUse?: boolean };
  /** Extra IMAP and POP3 listeners that expect a HAProxy PROXY header from 127.0.0.0/8. */
  haproxy?: boolean;
  /** A submission service (AUTH against the users) that relays accepted mail to this SMTP server. */
  submission?: { relayHost: string; relayPort: number };
  /**
   * Dovecot as large sites run it (see tunedServices): long-lived login processes that each
   * take thousands of clients, mail processes that serve 50 sessions each, no fsync. Off by
   * default, so tests see Dovecot's own defaults: a process per login and per session.
   */
  tuned?: boolean;
  /**
   * Pigeonhole: a ManageSieve service (RFC 5804) on a free port, scripts in `~/sieve` with the
   * active one linked from `~/.dovecot.sieve`, and LMTP deliveries run through the active script.
   */
  sieve?: boolean;
}

interface Ports {
  imap: number;
  pop3: number;
  lmtp: number;
  imaps?: number;
  pop3s?: number;
  imapProxy?: number;
  pop3Proxy?: number;
  submission?: number;
  managesieve?: number;
}

type Dir = { path: string; remove(): void };

const startTimeoutMs = 15_000;
let deliveries = 0;

/**
 * A real Dovecot 2.3 (IMAP, POP3, LMTP) on free loopback ports, its config, runtime files, log
 * and mail in a temp dir. It runs as root in the foreground; mail belongs to `nobody`. User
 * names are lowercased, as Dovecot's default `auth_username_format = %Lu` does.
 */
export class Dovecot {
  readonly #daemon: Daemon;
  readonly #dir: Dir;
  readonly #ports: Ports;
  readonly #mail: { uid: number; gid: number };

  private constructor(
    readonly options: DovecotOptions,
    dir: Dir,
    ports: Ports,
    mail: { uid: number; gid: number },
  ) {
    this.#dir = dir;
    this.#ports = ports;
    this.#mail = mail;
    this.#daemon = new Daemon(
      'dovecot',
      ['-F', '-c', join(dir.path, 'dovecot.conf')],
      this.logFile,
      dir.path,
    );
  }

  static async start(options: DovecotOptions): Promise<Dovecot> {
    ensureDebianPackages({
      dovecot: 'dovecot-core',
      doveconf: 'dovecot-core',
      '/usr/lib/dovecot/imap': 'dovecot-imapd',
      '/usr/lib/dovecot/pop3': 'dovecot-pop3d',
      '/usr/lib/dovecot/lmtp': 'dovecot-lmtpd',
      ...(options.submission ? { '/usr/lib/dovecot/submission': 'dovecot-submissiond' } : {}),
      ...(options.sieve
        ? {
            '/usr/lib/dovecot/managesieve': 'dovecot-managesieved',
            '/usr/lib/dovecot/modules/lib90_sieve_plugin.so': 'dovecot-sieve',
          }
        : {}),
    });
    for (const u of [...options.users, ...(options.masterUser ? [options.masterUser] : [])]) {
      if (/[:\s*/]/.test(u.user) || /[:\r\n]/.test(u.password))
        throw new Error(`user ${JSON.stringify(u.user)}: no ':', '*', '/' or white space, please`);
    }
    const mail = { uid: numericId('-u'), gid: numericId('-g') };
    return startOnFreePorts(async () => {
      const server = new Dovecot(options, tempDir('dovecot'), await allocatePorts(options), mail);
      server.#prepare();
      return server;
    });
  }

  get path(): string {
    return this.#dir.path;
  }

  get logFile(): string {
    return join(this.#dir.path, 'dovecot.log');
  }

  get mailDir(): string {
    return join(this.#dir.path, 'mail');
  }

  get imapPort(): number {
    return this.#ports.imap;
  }

  get imapsPort(): number | undefined {
    return this.#ports.imaps;
  }

  get pop3Port(): number {
    return this.#ports.pop3;
  }

  get pop3sPort(): number | undefined {
    return this.#ports.pop3s;
  }

  get lmtpPort(): number {
    return this.#ports.lmtp;
  }

  /** The submission service (only with `submission`). */
  get submissionPort(): number | undefined {
    return this.#ports.submission;
  }

  /** The ManageSieve service (only with `sieve`). */
  get managesievePort(): number | undefined {
    return this.#ports.managesieve;
  }

  /** Where the user's Sieve scripts are kept, as `<name>.sieve` (only with `sieve`). */
  sieveDir(user: string): string {
    return join(this.mailDir, user.toLowerCase(), 'sieve');
  }

  /** Expects a PROXY header first (only with `haproxy: true`). */
  get imapProxyPort(): number | undefined {
    return this.#ports.imapProxy;
  }

  /** Expects a PROXY header first (only with `haproxy: true`). */
  get pop3ProxyPort(): number | undefined {
    return this.#ports.pop3Proxy;
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  /**
   * Starts (again) on the same ports with the same mail. The master binds every listener before
   * it logs "starting up" (and exits if one fails), so once that line is there and the kernel
   * lists the ports as listening, they accept connections. Checking /proc/net/tcp instead of
   * connecting spares Dovecot half-started login processes that would hold up a quick stop().
   */
  async resume(): Promise<void> {
    if (this.#daemon.running) return;
    const from = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const failed = (what: string): Error =>
      new Error(`dovecot ${this.options.name} ${what}:\n${this.log().slice(from)}`);
    this.#daemon.start();
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (!this.#daemon.running) throw failed('exited while starting');
      if (this.log().includes('starting up', from) && listening(this.#portList())) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw failed(`did not start within ${startTimeoutMs} ms`);
      }
      await sleep(20);
    }
  }

  /**
   * SIGTERM: Dovecot closes the client connections and shuts down (about a second). Whatever is
   * left after `graceMs` gets SIGKILL, as do processes that outlive the master.
   */
  async stop(graceMs = 3000): Promise<void> {
    const master = this.#daemon.pid;
    if (master === undefined) return;
    const seen = new Set(this.#processes());
    signalAll([master], 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (this.#daemon.running && Date.now() < deadline) {
      for (const pid of this.#processes()) seen.add(pid);
      await sleep(20);
    }
    if (this.#daemon.running) await this.kill();
    signalAll([...seen], 'SIGKILL');
    await gone([...seen]);
  }

  /** SIGKILL to the master and every process it started: an abrupt backend death. */
  async kill(): Promise<void> {
    const master = this.#daemon.pid;
    if (master === undefined) return;
    // Stopped first, so that it starts nothing new while its children are collected.
    signalAll([master], 'SIGSTOP');
    const pids = [...this.#processes(), master];
    signalAll(pids, 'SIGKILL');
    await this.#daemon.kill();
    await gone(pids);
  }

  async destroy(): Promise<void> {
    await this.kill();
    this.#dir.remove();
  }

  /** Everything Dovecot logged (all levels), plus anything it wrote to stdout or stderr. */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** The user's Maildir: where mail_location points. */
  maildir(user: string): string {
    return join(this.mailDir, user.toLowerCase(), 'Maildir');
  }

  /** Puts a message straight into the user's INBOX (Maildir `new/`), as a delivery would. */
  deliverRaw(user: string, rfc822: string): void {
    const maildir = this.maildir(user);
    if (!existsSync(maildir)) throw new Error(`no mailbox for ${user} on ${this.options.name}`);
    // Stored with bare LF, as Dovecot's own deliveries are; IMAP and POP3 clients see CRLF.
    const text = rfc822.replace(/\r\n/g, '\n');
    deliveries++;
    const seconds = Math.floor(Date.now() / 1000);
    const name = `${seconds}.M${String(deliveries).padStart(6, '0')}P${process.pid}.${hostname()},S=${Buffer.byteLength(text)}`;
    const tmp = join(maildir, 'tmp', name);
    writeFileSync(tmp, text, { mode: 0o600 });
    chownSync(tmp, this.#mail.uid, this.#mail.gid);
    renameSync(tmp, join(maildir, 'new', name));
  }

  /** Messages in the user's INBOX (Maildir `new/` and `cur/`). */
  messageCount(user: string): number {
    return this.#messageFiles(user).length;
  }

  /** The raw messages in the user's INBOX, oldest first. */
  readMessages(user: string): string[] {
    return this.#messageFiles(user).map((file) => readFileSync(file, 'utf8'));
  }

  #messageFiles(user: string): string[] {
    const maildir = this.maildir(user);
    const files = ['new', 'cur'].flatMap((sub) => {
      const dir = join(maildir, sub);
      return existsSync(dir)
        ? readdirSync(dir).map((name) => ({ name, path: join(dir, name) }))
        : [];
    });
    return files.sort((a, b) => compareMaildirNames(a.name, b.name)).map((f) => f.path);
  }

  #prepare(): void {
    const dir = this.#dir.path;
    const { uid, gid } = this.#mail;
    // Dovecot's own processes (auth as `dovecot`, mail processes as `nobody`) walk into it.
    chmodSync(dir, 0o755);
    for (const sub of ['run', 'state']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'dovecot.conf'), dovecotConf(dir, this.options, this.#ports, uid, gid));
    writeFileSync(join(dir, 'users'), passwdFile(this.options.users), { mode: 0o644 });
    if (this.options.masterUser) {
      writeFileSync(join(dir, 'master-users'), passwdFile([this.options.masterUser]), {
        mode: 0o644,
      });
    }
    mkdirSync(this.mailDir);
    chownSync(this.mailDir, uid, gid);
    for (const { user } of this.options.users) {
      const home = join(this.mailDir, user.toLowerCase());
      mkdirSync(home);
      chownSync(home, uid, gid);
      mkdirSync(this.maildir(user));
      chownSync(this.maildir(user), uid, gid);
      for (const sub of ['new', 'cur', 'tmp']) {
        mkdirSync(join(this.maildir(user), sub), { mode: 0o700 });
        chownSync(join(this.maildir(user), sub), uid, gid);
      }
      this.deliverRaw(user, markerMessage(this.options.name, user));
    }
  }

  #portList(): number[] {
    return Object.values(this.#ports).filter((p): p is number => p !== undefined);
  }

  /** The master's descendants, found through /proc (they would outlive a SIGKILLed master). */
  #processes(): number[] {
    const master = this.#daemon.pid;
    if (master === undefined) return [];
    const children = new Map<number, number[]>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    }
    const found: number[] = [];
    const queue = [master];
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      for (const child of children.get(pid) ?? []) {
        found.push(child);
        queue.push(child);
      }
    }
    return found;
  }
}

async function allocatePorts(options: DovecotOptions): Promise<Ports> {
  const count =
    3 +
    (options.tls ? 2 : 0) +
    (options.haproxy ? 2 : 0) +
    (options.submission ? 1 : 0) +
    (options.sieve ? 1 : 0);
  const free = await freePorts(count);
  const next = (): number => {
    const port = free.shift();
    if (port === undefined) throw new Error('ran out of ports');
    return port;
  };
  const ports: Ports = { imap: next(), pop3: next(), lmtp: next() };
  if (options.tls) {
    ports.imaps = next();
    ports.pop3s = next();
  }
  if (options.haproxy) {
    ports.imapProxy = next();
    ports.pop3Proxy = next();
  }
  if (options.submission) ports.submission = next();
  if (options.sieve) ports.managesieve = next();
  return ports;
}

function namespaceConf(namespace: NonNullable<DovecotOptions['namespace']>): string[] {
  const uses = ['Sent', 'Drafts', 'Trash', 'Junk', 'Archive'];
  return [
    'namespace inbox {',
    '  inbox = yes',
    ...(namespace.separator ? [`  separator = ${namespace.separator}`] : []),
    ...(namespace.specialUse
      ? uses.flatMap((name) => [`  mailbox ${name} {`, `    special_use = \\${name}`, '  }'])
      : []),
    '}',
  ];
}

function dovecotConf(
  dir: string,
  options: DovecotOptions,
  ports: Ports,
  uid: number,
  gid: number,
): string {
  const listener = (name: string, port: number | undefined, extra: string[] = []): string[] =>
    port === undefined
      ? // Dovecot's built-in defaults have imaps on 993 and pop3s on 995: switch them off.
        [`  inet_listener ${name} {`, '    port = 0', '  }']
      : [
          `  inet_listener ${name} {`,
          '    address = 127.0.0.1',
          `    port = ${port}`,
          ...extra.map((line) => `    ${line}`),
          '  }',
        ];
  const lines = [
    `# Dovecot for tests: backend ${options.name}`,
    `protocols = imap pop3 lmtp${options.submission ? ' submission' : ''}${options.sieve ? ' sieve' : ''}`,
    'listen = 127.0.0.1',
    `instance_name = homing-dovecot-${options.name}-${ports.imap}`,
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    `info_log_path = ${dir}/dovecot.log`,
    `debug_log_path = ${dir}/dovecot.log`,
    'verbose_proctitle = yes',
    'mail_max_userip_connections = 100',
    'shutdown_clients = yes',
    'auth_verbose = yes',
    // A failed login answers within half a second instead of two (tests try wrong passwords).
    'auth_failure_delay = 0',
    '',
    'login_trusted_networks = 127.0.0.0/8',
    ...(options.haproxy ? ['haproxy_trusted_networks = 127.0.0.0/8'] : []),
    'disable_plaintext_auth = no',
    'auth_mechanisms = plain login',
    'auth_username_format = %Lu',
    ...(options.masterUser ? ['auth_master_user_separator = *'] : []),
    '',
    ...(options.tls
      ? [
          'ssl = yes',
          `ssl_cert = <${options.tls.cert}`,
          `ssl_key = <${options.tls.key}`,
          'ssl_min_protocol = TLSv1.2',
        ]
      : ['ssl = no']),
    '',
    'mail_location = maildir:~/Maildir',
    ...(options.namespace ? namespaceConf(options.namespace) : []),
    // COMPRESS=DEFLATE (RFC 4978), so tests show it works through the proxy's splice.
    'mail_plugins = $mail_plugins zlib quota',
    'plugin {',
    '  quota = maildir:User quota',
    ...(options.sieve ? ['  sieve = file:~/sieve;active=~/.dovecot.sieve'] : []),
    '}',
    'protocol imap {',
    '  mail_plugins = $mail_plugins imap_zlib',
    '}',
    '',
    ...(options.masterUser
      ? [
          'passdb {',
          '  driver = passwd-file',
          `  args = scheme=PLAIN ${dir}/master-users`,
          '  master = yes',
          '  pass = yes',
          '}',
        ]
      : []),
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN ${dir}/users`,
    '}',
    'userdb {',
    '  driver = static',
    `  args = uid=${uid} gid=${gid} home=${dir}/mail/%u`,
    '}',
    '',
    'service imap-login {',
    ...listener('imap', ports.imap),
    ...listener('imaps', ports.imaps, ['ssl = yes']),
    ...(ports.imapProxy !== undefined
      ? listener('imap_haproxy', ports.imapProxy, ['haproxy = yes'])
      : []),
    '}',
    'service pop3-login {',
    ...listener('pop3', ports.pop3),
    ...listener('pop3s', ports.pop3s, ['ssl = yes']),
    ...(ports.pop3Proxy !== undefined
      ? listener('pop3_haproxy', ports.pop3Proxy, ['haproxy = yes'])
      : []),
    '}',
    // No auth penalty: after one failure from an IP (the proxy's, or one it forwarded), Dovecot
    // would hold every later login from there, successful ones too, for 2 s and more.
    'service anvil {',
    '  unix_listener anvil-auth-penalty {',
    '    mode = 0',
    '  }',
    '}',
    'service lmtp {',
    ...listener('lmtp', ports.lmtp),
    '}',
    // Room for a thousand and more idle IMAP sessions (the benchmark's memory figure): one
    // process each, each with a connection to the stats service.
    'service imap {',
    '  process_limit = 2000',
    '}',
    'service stats {',
    '  client_limit = 2500',
    '}',
    ...(options.tuned ? tunedServices() : []),
    ...(options.sieve && ports.managesieve !== undefined
      ? [
          'protocol lmtp {',
          '  mail_plugins = $mail_plugins sieve',
          '}',
          'service managesieve-login {',
          ...listener('sieve', ports.managesieve),
          '}',
        ]
      : []),
    ...(options.submission && ports.submission !== undefined
      ? [
          `hostname = dovecot-${options.name.toLowerCase()}.test`,
          `submission_relay_host = ${options.submission.relayHost}`,
          `submission_relay_port = ${options.submission.relayPort}`,
          'submission_relay_trusted = yes',
          'service submission-login {',
          ...listener('submission', ports.submission),
          '}',
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}

/**
 * High-performance mode (service_count = 0): imap-login and pop3-login processes live on and
 * take up to 5000 clients each, one per CPU kept ready, instead of a fork per login; imap and
 * pop3 processes serve up to 50 sessions each (every user maps to the same uid), four kept
 * ready. The limits around them are raised so that none of them is the first to bind: the auth
 * and anvil services take a connection from each login process, the login processes hold two
 * descriptors per TLS client. Settings given twice in dovecot.conf: the later one counts.
 */
function tunedServices(): string[] {
  const loginProcesses = Math.max(1, cpus().length);
  const login = [
    '  service_count = 0',
    `  process_min_avail = ${loginProcesses}`,
    '  client_limit = 5000',
    '  vsz_limit = 1G',
  ];
  const mail = [
    '  service_count = 0',
    '  client_limit = 50',
    '  process_min_avail = 4',
    '  vsz_limit = 1G',
  ];
  return [
    'mail_fsync = never',
    'default_client_limit = 10000',
    'service imap-login {',
    ...login,
    '}',
    'service pop3-login {',
    ...login,
    '}',
    'service imap {',
    ...mail,
    '}',
    'service pop3 {',
    ...mail,
    '}',
  ];
}

function passwdFile(users: readonly DovecotUser[]): string {
  return users
    .map((u) => {
      const extra = u.quota ? `userdb_quota_rule=*:storage=${u.quota}` : '';
      return `${u.user.toLowerCase()}:{PLAIN}${u.password}::::::${extra}\n`;
    })
    .join('');
}

function markerMessage(name: string, user: string): string {
  return [
    'From: homing testkit <testkit@example.com>',
    `To: ${user}`,
    `Subject: You are on backend ${name}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <backend-${name}-${user}@testkit.example.com>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This mailbox lives on Dovecot backend ${name}.`,
    '',
  ].join('\n');
}

/** Maildir names start with the delivery time in seconds; equal seconds fall back to the name. */
function compareMaildirNames(a: string, b: string): number {
  const seconds = (name: string): number => Number.parseInt(name, 10) || 0;
  return seconds(a) - seconds(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function numericId(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
}

function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Whether something listens on each of these loopback ports, by the kernel's own table. */
function listening(ports: readonly number[]): boolean {
  const open = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local) open.add(Number.parseInt(local.split(':')[1] ?? '', 16));
    }
  }
  return ports.every((port) => open.has(port));
}

/** Resolves once none of these processes runs any more (a zombie counts as gone). */
async function gone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const alive = (pid: number): boolean => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
    } catch {
      return false;
    }
  };
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.filter(alive).join(' ')} live on`);
    await sleep(10);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
