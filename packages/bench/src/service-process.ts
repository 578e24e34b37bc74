import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { waitForPort } from '@homing/testkit';
import { type ProcessGroup, processCpuMs, processTree } from './cpu.js';

const readyTimeoutMs = 15_000;
const stopGraceMs = 5000;

export interface ServiceStart {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** stdout and stderr go here. */
  readonly logFile: string;
  /** Resolves once the service takes connections; polled until it does or time runs out. */
  readonly ready: (service: ServiceProcess) => Promise<boolean> | boolean;
}

/** A `ready` for a service that is ready once every one of `ports` takes connections. */
export function portsAccept(ports: readonly number[]): () => Promise<boolean> {
  return async () => {
    try {
      for (const port of ports) await waitForPort(port, 200);
      return true;
    } catch {
      return false;
    }
  };
}

/**
 * A process the bench starts beside homing (nginx, its auth_http service, the bare pipe,
 * HAProxy), its output in a log file. Its CPU time is its own and its children's (nginx's
 * workers).
 */
export class ServiceProcess implements ProcessGroup {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #exit: string | undefined;

  private constructor(name: string, child: ChildProcess, logFile: string) {
    this.name = name;
    this.logFile = logFile;
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = signal ? `signal ${signal}` : `exit code ${code}`;
        resolve();
      });
    });
  }

  static async start(options: ServiceStart): Promise<ServiceProcess> {
    const log = openSync(options.logFile, 'a');
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const service = new ServiceProcess(options.name, child, options.logFile);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (service.#exit) {
        throw new Error(
          `${options.name} exited while starting (${service.#exit}):\n${service.tail()}`,
        );
      }
      if (await options.ready(service)) return service;
      if (Date.now() > deadline) {
        await service.stop();
        throw new Error(
          `${options.name} was not ready within ${readyTimeoutMs} ms:\n${service.tail()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit)
      throw new Error(`${this.name} is not running (${this.#exit})`);
    return pid;
  }

  cpuMs(): number {
    let ms = 0;
    for (const pid of processTree(this.pid)) {
      try {
        ms += processCpuMs(pid);
      } catch {
        // exited between the listing and the read
      }
    }
    return ms;
  }

  /** Whether the log says `text` (a ready line). */
  logged(text: string): boolean {
    return existsSync(this.logFile) && readFileSync(this.logFile, 'utf8').includes(text);
  }

  assertRunning(): void {
    if (this.#exit) throw new Error(`${this.name} exited (${this.#exit}):\n${this.tail()}`);
  }

  tail(lines = 20): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM (nginx: fast shutdown), SIGKILL after a grace. */
  async stop(): Promise<void> {
    if (this.#exit) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), stopGraceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
