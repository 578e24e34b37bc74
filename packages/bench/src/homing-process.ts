import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ProcessGroup, processCpuMs } from './cpu.js';

const bin = fileURLToPath(new URL('../../server/bin/homing.js', import.meta.url));
const readyTimeoutMs = 15_000;
const stopGraceMs = 5000;

/**
 * A real homing node (`homing start -c CONFIG`) in its own process, its stdout and stderr in a
 * log file. `nodeArgs` go to node before the script (e.g. `--cpu-prof`, which NODE_OPTIONS
 * does not take).
 */
export class HomingProcess implements ProcessGroup {
  readonly name = 'homing';
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #exit: string | undefined;

  private constructor(
    child: ChildProcess,
    readonly logFile: string,
    readonly memoryFile: string,
  ) {
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = signal ? `signal ${signal}` : `exit code ${code}`;
        resolve();
      });
    });
  }

  static async start(
    config: string,
    logFile: string,
    cwd: string,
    nodeArgs: readonly string[],
  ): Promise<HomingProcess> {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (npm run build)`);
    const log = openSync(logFile, 'a');
    const memoryFile = `${logFile}.memory.json`;
    const child = spawn(process.execPath, [...nodeArgs, bin, 'start', '-c', config], {
      cwd,
      stdio: ['ignore', log, log],
      env: { ...process.env, HOMING_BENCH_MEMORY: memoryFile },
    });
    closeSync(log);
    const homing = new HomingProcess(child, logFile, memoryFile);
    await homing.#ready();
    return homing;
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit) throw new Error(`homing is not running (${this.#exit})`);
    return pid;
  }

  /** How homing ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  get exited(): string | undefined {
    return this.#exit;
  }

  /**
   * A full garbage collection, with the bench's preload (collect-garbage.mjs) in place; the
   * preload then writes the memory figures `memoryUsage()` reads.
   */
  collectGarbage(): void {
    rmSync(this.memoryFile, { force: true });
    process.kill(this.pid, 'SIGUSR2');
  }

  /** process.memoryUsage() of homing right after the last collectGarbage(), in bytes. */
  memoryUsage(): NodeJS.MemoryUsage {
    if (!existsSync(this.memoryFile)) throw new Error(`homing wrote no ${this.memoryFile}`);
    return JSON.parse(readFileSync(this.memoryFile, 'utf8')) as NodeJS.MemoryUsage;
  }

  /** Resident set size in KiB, from /proc/PID/status (VmRSS). */
  rssKiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]);
  }

  /** CPU time used so far (user + system), in ms. */
  cpuMs(): number {
    return processCpuMs(this.pid);
  }

  /** The soft limit on open files of the homing process (/proc/PID/limits). */
  openFilesLimit(): number {
    return openFilesLimit(this.pid);
  }

  /** Throws when homing has exited: its end and the last lines it logged. */
  assertRunning(): void {
    if (this.#exit) throw new Error(`homing exited (${this.#exit}):\n${this.tail()}`);
  }

  tail(lines = 20): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM (homing drains and exits, writing a CPU profile if asked), SIGKILL after a grace. */
  async stop(): Promise<void> {
    if (this.#exit) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), stopGraceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  async #ready(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (readFileSync(this.logFile, 'utf8').includes('homing ready')) return;
      if (this.#exit)
        throw new Error(`homing exited while starting (${this.#exit}):\n${this.tail()}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`homing was not ready within ${readyTimeoutMs} ms:\n${this.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Raises a process's soft and hard limits on open files to at least `wanted` (prlimit; root may
 * raise the hard limit up to fs.nr_open). Returns the soft limit it has afterwards.
 */
export function raiseOpenFiles(pid: number | 'self', wanted: number): number {
  if (openFilesLimit(pid) >= wanted) return openFilesLimit(pid);
  const target = String(pid === 'self' ? process.pid : pid);
  try {
    execFileSync('prlimit', ['--pid', target, `--nofile=${wanted}:${wanted}`], { stdio: 'pipe' });
  } catch {
    // Not root, or no prlimit: planSessions says how many fit with the limit as it is.
  }
  return openFilesLimit(pid);
}

/** The soft "Max open files" limit of a process. */
export function openFilesLimit(pid: number | 'self'): number {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match) throw new Error(`no open files limit in /proc/${pid}/limits`);
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}
