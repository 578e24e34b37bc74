import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProcessGroup } from './cpu.js';
import { type PoolChange, PoolLog } from './pool-log.js';
import { childPids, processCpuMsOrZero } from './tree-cpu.js';

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
  readonly #poolLog: PoolLog;

  private constructor(
    child: ChildProcess,
    readonly logFile: string,
    /** Each process writes its memory figures to this path with `.PID.json` added. */
    readonly memoryPrefix: string,
  ) {
    this.#child = child;
    this.#poolLog = new PoolLog(logFile);
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
    const memoryPrefix = `${logFile}.memory`;
    const child = spawn(process.execPath, [...nodeArgs, bin, 'start', '-c', config], {
      cwd,
      stdio: ['ignore', log, log],
      env: { ...process.env, HOMING_BENCH_MEMORY: memoryPrefix },
    });
    closeSync(log);
    const homing = new HomingProcess(child, logFile, memoryPrefix);
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

  /** homing's processes: the one process, or the primary and its workers (node's cluster). */
  pids(): number[] {
    return [this.pid, ...childPids(this.pid)];
  }

  /**
   * A full garbage collection in every process, with the bench's preload (collect-garbage.mjs)
   * in place (workers inherit it); each then writes the memory figures `memoryUsage()` reads.
   */
  collectGarbage(): void {
    for (const pid of this.pids()) {
      rmSync(this.#memoryFile(pid), { force: true });
      process.kill(pid, 'SIGUSR2');
    }
  }

  /** process.memoryUsage() summed over homing's processes after the last collectGarbage(). */
  memoryUsage(): NodeJS.MemoryUsage {
    const sum = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
    for (const pid of this.pids()) {
      const file = this.#memoryFile(pid);
      if (!existsSync(file)) throw new Error(`homing (pid ${pid}) wrote no ${file}`);
      const usage = JSON.parse(readFileSync(file, 'utf8')) as NodeJS.MemoryUsage;
      for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += usage[key];
    }
    return sum;
  }

  /** Resident set size of each of homing's processes in KiB (VmRSS), the primary first. */
  rssEachKiB(): number[] {
    return this.pids().map(rssKiB);
  }

  /** Resident set size of all of homing's processes together, in KiB. */
  rssKiB(): number {
    return this.rssEachKiB().reduce((a, b) => a + b, 0);
  }

  /** Descriptors each of homing's processes has open, the primary first. */
  openDescriptors(): number[] {
    return this.pids().map((pid) => readdirSync(`/proc/${pid}/fd`).length);
  }

  /**
   * CPU time used so far (user + system), in ms, of all of homing's processes: the primary and
   * its workers.
   */
  cpuMs(): number {
    return Object.values(this.cpuMsByProcess()).reduce((sum, ms) => sum + ms, 0);
  }

  /**
   * The primary's and each worker's (`w1`, `w2` in the order of their process ids), so that a
   * row shows which worker a filled pool gave the connections and what the rest cost beside it.
   */
  cpuMsByProcess(): Record<string, number> {
    const [primary, ...workers] = this.pids();
    const parts: Record<string, number> = { primary: processCpuMsOrZero(primary as number) };
    workers
      .sort((a, b) => a - b)
      .forEach((pid, i) => {
        parts[`w${i + 1}`] = processCpuMsOrZero(pid);
      });
    return parts;
  }

  /**
   * The session capacity each of homing's processes that serve logged ("session capacity", the
   * latest line of each; Infinity where it did not know its descriptor limit), once every one
   * has: log lines go out in batches (log.flush_interval).
   */
  async sessionCapacities(): Promise<number[]> {
    const pids = this.pids();
    const serving = pids.length > 1 ? pids.length - 1 : 1;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const byProcess = new Map<number, number>();
      for (const line of readFileSync(this.logFile, 'utf8').split('\n')) {
        if (!line.includes('"session capacity"')) continue;
        const entry = JSON.parse(line) as { worker?: number; sessions: number | string };
        const sessions = typeof entry.sessions === 'number' ? entry.sessions : Infinity;
        byProcess.set(entry.worker ?? 0, sessions);
      }
      if (byProcess.size >= serving) return [...byProcess.values()];
      if (Date.now() > deadline) {
        throw new Error(`${byProcess.size} of ${serving} homing processes logged their capacity`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Where the pool sent new connections, each change as logged (none for one process). */
  poolChanges(): readonly PoolChange[] {
    return this.#poolLog.read();
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

  #memoryFile(pid: number): string {
    return `${this.memoryPrefix}.${pid}.json`;
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

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/**
 * Raises a process's soft and hard limits on open files to at least `asked` (prlimit; root with
 * CAP_SYS_RESOURCE may raise the hard limit up to fs.nr_open). Returns the soft limit it has
 * afterwards.
 */
export function raiseOpenFiles(pid: number | 'self', asked: number): number {
  const wanted = Math.min(asked, Number(readFileSync('/proc/sys/fs/nr_open', 'utf8')));
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
