import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { Daemon, startOnFreePorts, stopProcess } from './process.js';
import { ensureDebianPackages } from './system.js';
import { tempDir } from './tmp.js';

const startTimeoutMs = 10_000;

/**
 * A real redis-server on a free loopback port, in the foreground, nothing saved to disk, its
 * working dir and log in a temp dir. Debian's redis-server package does not start a system
 * Redis where services are not started on install (containers); where one does start, it is on
 * 6379 and no test here uses it.
 */
export class RedisServer {
  readonly url: string;
  readonly #daemon: Daemon;
  readonly #dir: { path: string; remove(): void };

  private constructor(
    readonly port: number,
    dir: { path: string; remove(): void },
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#daemon = new Daemon(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir.path,
        '--daemonize',
        'no',
      ],
      join(dir.path, 'redis.log'),
      dir.path,
    );
  }

  static async start(): Promise<RedisServer> {
    ensureDebianPackages({ 'redis-server': 'redis-server' });
    return startOnFreePorts(async () => new RedisServer(await freePort(), tempDir('redis')));
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  /**
   * Starts (again) on the same port, empty: nothing is kept across a restart. Redis logs "Ready
   * to accept connections" once it listens, and exits when it cannot bind.
   */
  async resume(): Promise<void> {
    if (this.#daemon.running) return;
    const from = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    this.#daemon.start();
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (this.log().includes('Ready to accept connections', from)) return;
      if (!this.#daemon.running) throw new Error(`redis-server exited:\n${this.log().slice(from)}`);
      if (Date.now() > deadline) {
        await this.#daemon.kill();
        throw new Error(`redis-server did not start in ${startTimeoutMs} ms:\n${this.log()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGTERM: Redis closes its clients and exits. */
  stop(): Promise<void> {
    return this.#daemon.stop();
  }

  /** SIGKILL: the abrupt death a test of failure handling wants. */
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
    if (pid === undefined) throw new Error('redis-server is not running');
    process.kill(pid, signal);
  }

  async destroy(): Promise<void> {
    await this.#daemon.kill();
    this.#dir.remove();
  }

  get logFile(): string {
    return join(this.#dir.path, 'redis.log');
  }

  /** What redis-server wrote (its log goes to stdout). */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}
