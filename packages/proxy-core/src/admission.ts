/**
 * How many client connections this process takes at once. Past its capacity a new client is
 * told "busy" before it has sent anything, rather than being accepted and then failing at
 * login when the descriptors for its backend connection are not there.
 */
export class Admission {
  /** Connections that may be open at once; Infinity: no bound. Changed by a reload. */
  capacity: number;
  #open = 0;
  #refused = 0;

  constructor(capacity = Number.POSITIVE_INFINITY) {
    this.capacity = capacity;
  }

  get open(): number {
    return this.#open;
  }

  /** Clients turned away as busy since start. */
  get refused(): number {
    return this.#refused;
  }

  get full(): boolean {
    return this.#open >= this.capacity;
  }

  /** Takes a place and returns its release (idempotent), or undefined when full (counted). */
  enter(): (() => void) | undefined {
    if (this.full) {
      this.#refused += 1;
      return undefined;
    }
    this.#open += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open -= 1;
    };
  }
}
