/**
 * What a step with a time limit watches: whether it has run out, why, and a way to hear of it
 * at once. An AbortSignal is one, and so is a Deadline.
 */
export interface Cancellation {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A time limit that can be cancelled once the work is done, and moved on for the next step.
 * AbortSignal.timeout cannot be cancelled: on a busy node every login and every SMTP command
 * would leave a timer behind that later fires and builds an error nobody reads. Not an
 * AbortController either: a login makes one of these, and an EventTarget with its listener
 * bookkeeping costs more than the list of one or two listeners a step needs.
 */
export class Deadline implements Cancellation {
  #timer: NodeJS.Timeout;
  #ms: number;
  #reason: Error | undefined;
  /** Told once, when the time is up; in the order they came. */
  #listeners: (() => void)[] = [];

  constructor(ms: number) {
    this.#ms = ms;
    this.#timer = setTimeout(expire, ms, this);
    this.#timer.unref();
  }

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** The deadline itself: what a step is given to watch. */
  get signal(): Cancellation {
    return this;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    // As an AbortSignal: a listener that comes after the end is not called.
    if (this.#reason === undefined) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at !== -1) this.#listeners.splice(at, 1);
  }

  /**
   * The next step's time, from now, on the same deadline: one for steps with limits of their
   * own (a backend's connect, then its login). Does nothing once the time is up.
   */
  restart(ms: number): void {
    if (this.#reason !== undefined) return;
    this.#ms = ms;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(expire, ms, this);
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
  }

  /** The time is up: every step watching hears of it, once. */
  expire(): void {
    if (this.#reason !== undefined) return;
    this.#reason = new Error(`timed out after ${this.#ms} ms`);
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }

  /** Runs `work` within `ms` and cancels the timer when it settles. */
  static async run<T>(ms: number, work: (signal: Cancellation) => Promise<T>): Promise<T> {
    const deadline = new Deadline(ms);
    try {
      return await work(deadline);
    } finally {
      deadline.clear();
    }
  }
}

function expire(deadline: Deadline): void {
  deadline.expire();
}
