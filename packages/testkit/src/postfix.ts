import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { Daemon, startOnFreePorts } from './process.js';
import { ensureDebianPackages, hasProgram } from './system.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

export interface PostfixOptions {
  /** Names the instance: its hostname is `postfix-NAME.test`. */
  name: string;
  /** The domains it accepts mail for (virtual mailbox domains). */
  domains: readonly string[];
  /**
   * Where accepted mail goes: an SMTP server, or with `lmtp: true` an LMTP one (such as
   * `Dovecot.lmtpPort`). Without it, accepted mail stays in the hold queue.
   */
  relayTo?: { host: string; port: number; lmtp?: boolean };
  /** Only these recipients are accepted (each in one of `domains`); others get 550 5.1.1. */
  recipients?: readonly string[];
  /** Clients allowed to send XCLIENT (`smtpd_authorized_xclient_hosts`); 127.0.0.0/8 if unset. */
  xclientHosts?: readonly string[];
  /** PEM files for the server; with them STARTTLS is offered (not required). */
  tls?: { cert: string; key: string };
}

type Dir = { path: string; remove(): void };

const startTimeoutMs = 15_000;
/** Queue subdirectories that hold messages (`defer`, `bounce` and `trace` hold logs). */
const messageQueues = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

/**
 * A real Postfix (3.4 or later) as an instance of its own: config, queue, data and log in a temp
 * dir, one smtpd on a free 127.0.0.1 port, no chroot. Its master runs as root in the foreground
 * as a child of the test; the system's own Postfix is neither configured nor touched.
 */
export class Postfix {
  readonly #daemon: Daemon;
  readonly #dir: Dir;
  readonly #port: number;

  private constructor(
    readonly options: PostfixOptions,
    dir: Dir,
    port: number,
    daemonDirectory: string,
  ) {
    this.#dir = dir;
    this.#port = port;
    this.#daemon = new Daemon(
      join(daemonDirectory, 'master'),
      ['-c', this.configDir],
      this.logFile,
      this.queueDir,
    );
  }

  static async start(options: PostfixOptions): Promise<Postfix> {
    installPostfix();
    checkOptions(options);
    const daemonDirectory = execFileSync('postconf', ['-d', '-h', 'daemon_directory'], {
      encoding: 'utf8',
    }).trim();
    return startOnFreePorts(async () => {
      const server = new Postfix(options, tempDir('postfix'), await freePort(), daemonDirectory);
      try {
        server.#prepare();
      } catch (error) {
        await server.destroy();
        throw error;
      }
      return server;
    }, /port taken/);
  }

  get path(): string {
    return this.#dir.path;
  }

  /** Holds main.cf and master.cf (`postfix -c`, `postconf -c`, `postqueue -c` take it). */
  get configDir(): string {
    return join(this.#dir.path, 'etc');
  }

  get queueDir(): string {
    return join(this.#dir.path, 'queue');
  }

  /** The maillog_file: everything every Postfix program of this instance logged. */
  get logFile(): string {
    return join(this.#dir.path, 'postfix.log');
  }

  /** The smtpd port on 127.0.0.1. */
  get port(): number {
    return this.#port;
  }

  get hostname(): string {
    return `postfix-${this.options.name}.test`;
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  /**
   * Starts (again) on the same port with the same queue. `postfix check` first, as `postfix
   * start` would: it creates missing queue directories with the right owners and puts stray
   * queue files back in place. The master binds the smtpd port itself before it starts any
   * process, so once the kernel lists the port as listening, it takes connections. Looking at
   * /proc/net/tcp instead of connecting keeps a probe out of the smtpd's log and counters.
   */
  async resume(): Promise<void> {
    if (this.#daemon.running) return;
    const from = this.log().length;
    const failed = (what: string): Error =>
      new Error(`postfix ${this.options.name} ${what}:\n${this.log().slice(from)}`);
    try {
      await run('postfix', ['-c', this.configDir, 'check']);
    } catch (error) {
      throw failed(`failed its check (${String(error)})`);
    }
    this.#daemon.start();
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      const master = this.#daemon.pid;
      const sockets = listeningSockets(this.#port);
      const mine = master === undefined ? new Set<string>() : socketsOf(master);
      if (master === undefined) {
        // The master says nothing when bind() fails: its log service is not up yet.
        throw failed(
          sockets.length > 0 ? 'exited while starting: port taken' : 'exited while starting',
        );
      }
      // Postfix binds with SO_REUSEPORT: another Postfix on the port would not make it fail.
      if (sockets.some((inode) => !mine.has(inode))) {
        await this.kill();
        throw failed('found another listener on its port: port taken');
      }
      if (sockets.length > 0) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw failed(`did not start within ${startTimeoutMs} ms`);
      }
      await sleep(20);
    }
  }

  /**
   * SIGTERM to the master, which passes it on to its processes and exits: open SMTP sessions
   * end at once, as with `postfix abort`; the queue stays. Whatever is left after `graceMs`
   * gets SIGKILL.
   */
  async stop(graceMs = 3000): Promise<void> {
    const master = this.#daemon.pid;
    if (master === undefined) return;
    try {
      process.kill(master, 'SIGTERM');
    } catch {
      // already gone
    }
    const deadline = Date.now() + graceMs;
    while ((this.#daemon.running || groupAlive(master)) && Date.now() < deadline) await sleep(20);
    await this.#killGroup(master);
  }

  /** SIGKILL to the master and every process it started: an abrupt server death. */
  async kill(): Promise<void> {
    const master = this.#daemon.pid;
    if (master === undefined) return;
    await this.#killGroup(master);
  }

  async destroy(): Promise<void> {
    await this.kill();
    this.#dir.remove();
  }

  /** Everything this instance logged (its maillog_file). */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** `postqueue -p`: the queue listing ("Mail queue is empty" when it is). */
  async queue(): Promise<string> {
    const { stdout } = await run('postqueue', ['-c', this.configDir, '-p']);
    return stdout;
  }

  /** Messages in the queue (maildrop, incoming, active, deferred and hold), by their files. */
  queueSize(): number {
    return messageQueues.reduce((sum, queue) => sum + countFiles(join(this.queueDir, queue)), 0);
  }

  /** `postqueue -f`: tries every deferred message again now. Needs a running instance. */
  async flush(): Promise<void> {
    await run('postqueue', ['-c', this.configDir, '-f']);
  }

  #prepare(): void {
    const dir = this.#dir.path;
    // Postfix programs drop to the `postfix` user and must still reach the queue and data dirs.
    chmodSync(dir, 0o755);
    mkdirSync(this.configDir);
    // `postfix check` creates the rest of the queue tree, and data_directory.
    mkdirSync(this.queueDir);
    const files: Record<string, string> = {
      'main.cf': mainCf(dir, this.options, this.hostname),
      'master.cf': masterCf(this.#port),
    };
    if (this.options.recipients) {
      files.recipients = this.options.recipients.map((r) => `${r.toLowerCase()} OK\n`).join('');
    }
    // Postfix reads a main.cf modified within the last second again and again, 300 ms apart,
    // until it is older (in case an editor was still writing it): two seconds on every fresh
    // start. Backdated files are read once.
    const past = new Date(Date.now() - 60_000);
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(this.configDir, name), text);
      utimesSync(join(this.configDir, name), past, past);
    }
  }

  async #killGroup(master: number): Promise<void> {
    // Stopped first, so that it starts nothing new while its processes are collected.
    signalGroup(master, 'SIGSTOP');
    signalGroup(master, 'SIGKILL');
    await this.#daemon.kill();
    const deadline = Date.now() + 5000;
    while (groupAlive(master)) {
      if (Date.now() > deadline) throw new Error(`postfix ${this.options.name}: processes live on`);
      await sleep(10);
    }
  }
}

/**
 * Installs the Debian package unless it is there. Its postinst asks what kind of mail system
 * this is: "No configuration" leaves /etc/postfix/main.cf out, so the system's Postfix has
 * nothing to start with.
 */
function installPostfix(): void {
  const programs = {
    postfix: 'postfix',
    postconf: 'postfix',
    postqueue: 'postfix',
    '/usr/lib/postfix/sbin/master': 'postfix',
  };
  const missing = Object.keys(programs).some((program) => !hasProgram(program));
  if (missing && process.getuid?.() === 0 && hasProgram('debconf-set-selections')) {
    execFileSync('debconf-set-selections', {
      input: 'postfix postfix/main_mailer_type select No configuration\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  }
  ensureDebianPackages(programs);
}

function checkOptions(options: PostfixOptions): void {
  const domains = new Set(options.domains.map((d) => d.toLowerCase()));
  if (!/^[a-z0-9-]+$/i.test(options.name))
    throw new Error(`postfix name ${JSON.stringify(options.name)}: letters, digits and '-' only`);
  if (domains.size === 0) throw new Error(`postfix ${options.name}: no domains`);
  for (const name of [...domains, ...(options.xclientHosts ?? [])]) {
    if (!/^[\w.:/-]+$/.test(name)) throw new Error(`not a domain or network: ${name}`);
  }
  for (const recipient of options.recipients ?? []) {
    const domain = recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(recipient) || !domains.has(domain))
      throw new Error(`recipient ${recipient}: an address in one of ${[...domains].join(', ')}`);
  }
}

function mainCf(dir: string, options: PostfixOptions, hostname: string): string {
  const { relayTo, tls } = options;
  const nexthop = relayTo && `[${relayTo.host}]:${relayTo.port}`;
  const lines = [
    `# Postfix for tests: ${options.name}`,
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    // Logs through postlogd (the postlog service in master.cf) to a file, without syslog.
    `maillog_file = ${dir}/postfix.log`,
    `maillog_file_prefixes = ${dir}`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    `myhostname = ${hostname}`,
    'mydestination =',
    'mynetworks = 127.0.0.0/8',
    // No local delivery, so no aliases (the defaults want /etc/aliases.db and NIS).
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'biff = no',
    '',
    `virtual_mailbox_domains = ${options.domains.map((d) => d.toLowerCase()).join(', ')}`,
    options.recipients
      ? `virtual_mailbox_maps = texthash:${dir}/etc/recipients`
      : 'virtual_mailbox_maps = static:OK',
    nexthop
      ? `virtual_transport = ${relayTo.lmtp ? `lmtp:inet:${nexthop}` : `smtp:${nexthop}`}`
      : '# no relayTo: accepted mail waits in the hold queue',
    // Mail for other domains (accepted from mynetworks only) goes nowhere.
    'default_transport = error:5.7.1 this test server delivers to its own domains only',
    // Next hops by name resolve through /etc/hosts too, not by DNS alone.
    'smtp_host_lookup = native',
    'lmtp_host_lookup = native',
    '',
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
    'smtpd_recipient_restrictions =',
    ...(nexthop ? [] : ['smtpd_end_of_data_restrictions = check_client_access static:HOLD']),
    `smtpd_authorized_xclient_hosts = ${(options.xclientHosts ?? ['127.0.0.0/8']).join(', ')}`,
    'smtputf8_enable = yes',
    'smtpd_error_sleep_time = 0',
    '',
    ...(tls
      ? [
          `smtpd_tls_cert_file = ${tls.cert}`,
          `smtpd_tls_key_file = ${tls.key}`,
          'smtpd_tls_security_level = may',
          'smtpd_tls_received_header = yes',
          'smtpd_tls_loglevel = 1',
        ]
      : ['smtpd_tls_security_level = none']),
    '',
  ];
  return lines.join('\n');
}

/** The services a relay needs, none of them chrooted, plus the smtpd on 127.0.0.1:`port`. */
function masterCf(port: number): string {
  const services: [string, string, string, string, string, string][] = [
    [`127.0.0.1:${port}`, 'inet', 'n', '-', '-', '-'],
    ['pickup', 'unix', 'n', '-', '60', '1'],
    ['cleanup', 'unix', 'n', '-', '-', '0'],
    ['qmgr', 'unix', 'n', '-', '300', '1'],
    ['tlsmgr', 'unix', '-', '-', '1000?', '1'],
    ['rewrite', 'unix', '-', '-', '-', '-'],
    ['bounce', 'unix', '-', '-', '-', '0'],
    ['defer', 'unix', '-', '-', '-', '0'],
    ['trace', 'unix', '-', '-', '-', '0'],
    ['verify', 'unix', '-', '-', '-', '1'],
    ['flush', 'unix', 'n', '-', '1000?', '0'],
    ['proxymap', 'unix', '-', '-', '-', '-'],
    ['proxywrite', 'unix', '-', '-', '-', '1'],
    ['smtp', 'unix', '-', '-', '-', '-'],
    ['relay', 'unix', '-', '-', '-', '-'],
    ['showq', 'unix', 'n', '-', '-', '-'],
    ['error', 'unix', '-', '-', '-', '-'],
    ['retry', 'unix', '-', '-', '-', '-'],
    ['discard', 'unix', '-', '-', '-', '-'],
    ['lmtp', 'unix', '-', '-', '-', '-'],
    ['anvil', 'unix', '-', '-', '-', '1'],
    ['scache', 'unix', '-', '-', '-', '1'],
    ['postlog', 'unix-dgram', 'n', '-', '-', '1'],
  ];
  const programs: Record<string, string> = {
    [`127.0.0.1:${port}`]: 'smtpd',
    rewrite: 'trivial-rewrite',
    defer: 'bounce',
    trace: 'bounce',
    proxywrite: 'proxymap',
    relay: 'smtp',
    retry: 'error',
    postlog: 'postlogd',
  };
  const lines = services.map(([service, type, priv, unpriv, wakeup, limit]) =>
    // Columns: service type private unpriv chroot wakeup maxproc command.
    [service, type, priv, unpriv, 'n', wakeup, limit, programs[service] ?? service].join(' '),
  );
  return `${lines.join('\n')}\n`;
}

function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  let count = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) count += countFiles(join(dir, entry.name));
    else if (entry.isFile()) count++;
  }
  return count;
}

/** The socket inodes listening on 127.0.0.1:`port` (or 0.0.0.0), by the kernel's own table. */
function listeningSockets(port: number): string[] {
  const inodes: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [address, hexPort] = (fields[1] ?? '').split(':');
    if (fields[3] !== '0A' || Number.parseInt(hexPort ?? '', 16) !== port) continue;
    if (address === '0100007F' || address === '00000000') inodes.push(fields[9] ?? '');
  }
  return inodes;
}

/** The inodes of the sockets a process has open. */
function socketsOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The master leads its own process group (it calls setsid()), and its processes stay in it. */
function signalGroup(master: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-master, signal);
  } catch {
    // no such group (any more)
  }
}

/** Whether a process of the group still runs (zombies do not count). */
function groupAlive(master: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === master && !/^[ZX]/.test(fields[0] ?? '')) return true;
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
