import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const homingBin = fileURLToPath(new URL('../bin/homing.js', import.meta.url));

/** A `homing start` process whose JSON log lines the test can wait for. */
export class NodeProcess {
  output = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  /** `wrapper`: a command that runs node, e.g. `prlimit --nofile=…`. */
  /** `node`: the Node.js binary homing runs on, the test's own by default. */
  constructor(
    config: string,
    env: NodeJS.ProcessEnv = {},
    wrapper: readonly string[] = [],
    node = process.execPath,
  ) {
    const command = [...wrapper, node, homingBin, 'start', '-c', config];
    this.child = spawn(command[0] as string, command.slice(1), {
      env: { ...process.env, ...env },
    });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Waits for a log line containing `text` (after `from` characters of output). */
  async waitFor(text: string, timeoutMs = 10_000, from = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.slice(from).includes(text)) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no "${text}" in the node's log:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }
}
