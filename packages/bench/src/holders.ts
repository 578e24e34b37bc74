import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchUser } from './cluster.js';
import type { HoldOrder, HoldResult } from './idle-holder.js';

const script = fileURLToPath(new URL('./idle-holder.ts', import.meta.url));
/** Holder k binds to 127.0.0.(firstAddress + k) when the holders have addresses of their own. */
const firstAddress = 11;
const releaseTimeoutMs = 120_000;

export interface Opened {
  readonly opened: number;
  readonly busy: number;
  readonly stopped: string | undefined;
}

/**
 * Processes of the bench that hold idle IMAP sessions, up to `perHolder` each (one process may
 * open no more files than its descriptor limit), filled one after another; from loopback
 * addresses of their own when `ownAddresses` (each address a whole range of source ports).
 */
export class SessionHolders {
  readonly #children: ChildProcess[] = [];

  constructor(
    readonly perHolder: number,
    readonly ownAddresses: boolean,
  ) {}

  get count(): number {
    return this.#children.length;
  }

  async open(
    port: number,
    users: readonly BenchUser[],
    count: number,
    options: { readonly batch: number; readonly busyTries: number },
  ): Promise<Opened> {
    let opened = 0;
    let busy = 0;
    let stopped: string | undefined;
    for (let k = 0; opened < count && !stopped; k++) {
      const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.#children.push(child);
      const order: HoldOrder = {
        port,
        localAddress: this.ownAddresses ? `127.0.0.${firstAddress + k}` : undefined,
        users,
        firstUser: opened,
        count: Math.min(this.perHolder, count - opened),
        ...options,
      };
      const result = await ask(child, order);
      opened += result.opened;
      busy += result.busy;
      stopped = result.stopped;
      if (result.error) throw new Error(result.error);
    }
    return { opened, busy, stopped };
  }

  /**
   * Lets every session go; `politely` by LOGOUT, so that the TIME_WAIT is on the server's side
   * and ports bound to the holders' and homing's source addresses are free at once.
   */
  async release(politely: boolean): Promise<void> {
    const children = this.#children.splice(0);
    await Promise.all(
      children.map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        if (child.exitCode === null) child.send(politely ? 'logout' : 'release');
        const timer = setTimeout(() => child.kill('SIGKILL'), releaseTimeoutMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** At once, on an error or Ctrl-C. */
  kill(): void {
    for (const child of this.#children.splice(0)) child.kill('SIGKILL');
  }
}

/** Sends the order once the holder says it is ready, and waits for its result. */
function ask(child: ChildProcess, order: HoldOrder): Promise<HoldResult> {
  return new Promise((resolve, reject) => {
    child.on('message', (message: 'ready' | HoldResult) => {
      if (message === 'ready') child.send(order);
      else resolve(message);
    });
    child.once('exit', (code, signal) => {
      reject(new Error(`a session holder exited (${signal ?? `code ${code}`})`));
    });
  });
}
