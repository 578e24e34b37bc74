import type { DestinationStream } from 'pino';

/** Lines at this pino level and above (warn) are written at once, with what waits before them. */
const urgentLevel = 40;
/** More than this waiting is written at once, whatever the interval. */
const maxBufferedBytes = 64 * 1024;

/**
 * Log lines gathered and written together: one write per interval instead of one per line
 * (a busy node writes two lines per session, each a system call). Warnings and errors go out
 * at once, and so does everything waiting when the process exits.
 */
export class BufferedLog implements DestinationStream {
  /** Set by pino before each write (pino.metadata): the level of the line. */
  lastLevel = 0;
  #lines: string[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #flushNow = () => this.flush();

  constructor(
    readonly target: DestinationStream & { flushSync?: () => void },
    readonly intervalMs: number,
  ) {
    // Asks pino to set lastLevel before each write.
    Object.defineProperty(this, Symbol.for('pino.metadata'), { value: true });
    process.on('exit', this.#flushNow);
  }

  write(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length;
    if (this.lastLevel >= urgentLevel || this.#bytes >= maxBufferedBytes) {
      this.flush();
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushNow, this.intervalMs);
      // Waiting lines do not keep the process alive: exit writes them.
      this.#timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0) return;
    const text = this.#lines.length === 1 ? (this.#lines[0] as string) : this.#lines.join('');
    this.#lines = [];
    this.#bytes = 0;
    this.target.write(text);
  }

  /** Stops gathering (the process's exit hook goes too). */
  close(): void {
    this.flush();
    process.off('exit', this.#flushNow);
  }
}
