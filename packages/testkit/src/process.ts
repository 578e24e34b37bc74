import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';

/** A server process started by a test, its output going to a log file in its temp dir. */
export class Daemon {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly logFile: string,
    readonly cwd?: string,
    /** Run as this user (a server that refuses to run as root); default: as the test. */
    readonly user?: { readonly uid: number; readonly gid: number },
  ) {}

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    if (this.#child) return;
    const log = openSync(this.logFile, 'a');
    const child = spawn(this.command, this.args, {
      stdio: ['ignore', log, log],
      cwd: this.cwd,
      ...this.user,
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
  }

  /** SIGTERM and wait; SIGKILL if it has not gone within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL: the abrupt death a test of failure handling wants. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.#exited;
  }
}

/**
 * SIGSTOP, and wait until every thread of the process is stopped: the signal takes effect
 * asynchronously, and a test that goes on at once may still be answered.
 */
export function stopProcess(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + 2000;
  const tasks = `/proc/${pid}/task`;
  for (;;) {
    let running = false;
    try {
      for (const tid of readdirSync(tasks)) {
        const stat = readFileSync(`${tasks}/${tid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'T' && state !== 't') running = true;
      }
    } catch {
      return; // gone
    }
    if (!running || Date.now() > deadline) return;
  }
}

const startAttempts = 3;

/**
 * Makes a server on freshly chosen ports and starts it; when another process took one of the
 * ports between choosing it and bind() (`portTaken` matches the error), it tries again with new
 * ones. A server that fails to start is destroyed.
 */
export async function startOnFreePorts<
  S extends { resume(): Promise<void>; destroy(): Promise<void> },
>(make: () => Promise<S>, portTaken = /address already in use/i): Promise<S> {
  for (let attempt = 1; ; attempt++) {
    const server = await make();
    try {
      await server.resume();
      return server;
    } catch (error) {
      await server.destroy();
      if (attempt < startAttempts && portTaken.test(String(error))) continue;
      throw error;
    }
  }
}
