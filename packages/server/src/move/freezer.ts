import type { PoolControl } from './pool-control.js';

/**
 * Keeps a user frozen while the move works: renewed at a third of the granted time, so a
 * living mover never lets it lapse and a dead one frees the user within move.freeze_max.
 * `check()` throws once a renewal failed or is overdue: the pass stops rather than go on
 * while logins and deliveries may have resumed on the old home.
 */
export class Freezer {
  #timer: NodeJS.Timeout | undefined;
  #grantedMs = 0;
  #renewedAt = 0;
  #failure: unknown;

  constructor(
    private readonly pool: PoolControl,
    private readonly login: string,
    private readonly wantMs: number,
  ) {}

  async start(): Promise<number> {
    await this.#renew();
    this.#timer = setInterval(
      () => {
        this.#renew().catch((error: unknown) => {
          this.#failure = error;
        });
      },
      Math.max(100, this.#grantedMs / 3),
    );
    return this.#grantedMs;
  }

  check(): void {
    if (this.#failure !== undefined)
      throw new Error(`the freeze could not be renewed: ${String(this.#failure)}`);
    if (performance.now() - this.#renewedAt > (this.#grantedMs * 2) / 3)
      throw new Error('the freeze is about to lapse: it was not renewed in time');
  }

  /** Stops renewing and thaws the user. */
  async stop(): Promise<void> {
    this.release();
    await this.pool.thaw(this.login);
  }

  /** Stops renewing; the freeze runs out by itself within the time granted. */
  release(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #renew(): Promise<void> {
    const asked = performance.now();
    this.#grantedMs = await this.pool.freeze(this.login, this.wantMs);
    this.#renewedAt = asked;
  }
}
