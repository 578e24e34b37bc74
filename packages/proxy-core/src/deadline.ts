/**
 * An abort signal that fires after `ms`, and a way to cancel its timer once the work is done.
 * AbortSignal.timeout cannot be cancelled: on a busy node every login and every SMTP command
 * would leave a timer behind that later fires and builds an error nobody reads.
 */
export class Deadline {
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout;
  #ms: number;
  readonly #expire = () => {
    this.#controller.abort(new Error(`timed out after ${this.#ms} ms`));
  };

  constructor(ms: number) {
    this.#ms = ms;
    this.#timer = setTimeout(this.#expire, ms);
    this.#timer.unref();
  }

  /**
   * The next step's time, from now, on the same signal: one controller for steps with limits of
   * their own (a backend's connect, then its login). Does nothing once the signal has fired.
   */
  restart(ms: number): void {
    if (this.#controller.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#ms = ms;
    this.#timer = setTimeout(this.#expire, ms);
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  clear(): void {
    clearTimeout(this.#timer);
  }

  /** Runs `work` with the signal and cancels the timer when it settles. */
  static async run<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = new Deadline(ms);
    try {
      return await work(deadline.signal);
    } finally {
      deadline.clear();
    }
  }
}
