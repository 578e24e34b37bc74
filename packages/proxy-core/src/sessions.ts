export type SessionProtocol = 'imap' | 'pop3' | 'smtp' | 'lmtp' | 'submission' | 'managesieve';

export interface SessionInfo {
  readonly id: string;
  readonly protocol: SessionProtocol;
  readonly client: string;
  readonly since: Date;
  user?: string;
  backend?: string;
  /** Byte counts once spliced. */
  counts?: () => { up: number; down: number };
  /** Once spliced: whether its bytes move in the kernel or through Node (see `relay`). */
  readonly relay?: 'kernel' | 'node';
}

/** A session as the registry holds it. */
export interface SessionEntry {
  readonly info: SessionInfo;
  kick(reason: string): void;
  /** Ends the session when it is between transactions (SMTP); absent: see `drain`. */
  readonly drain?: (() => void) | undefined;
}

/** Live sessions of this node: listed by the admin API, kicked by user. */
export class SessionRegistry {
  readonly #sessions = new Map<string, SessionEntry>();

  add(info: SessionInfo, kick: (reason: string) => void, drain?: () => void): () => void {
    this.#sessions.set(info.id, { info, kick, drain });
    return () => this.#sessions.delete(info.id);
  }

  /**
   * A session that is its own entry (a spliced one, which has no closures to spare); it takes
   * the place of the entry its id had before the splice. `remove` it when it ends.
   */
  put(entry: SessionEntry): void {
    this.#sessions.set(entry.info.id, entry);
  }

  remove(id: string): void {
    this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }

  list(filter: { user?: string; backend?: string } = {}): SessionInfo[] {
    return [...this.#sessions.values()]
      .map((e) => e.info)
      .filter(
        (s) =>
          (filter.user === undefined || s.user === filter.user) &&
          (filter.backend === undefined || s.backend === filter.backend),
      );
  }

  /** Closes every session of the user; returns how many. */
  kick(user: string, reason = 'kicked'): number {
    let n = 0;
    for (const entry of [...this.#sessions.values()]) {
      if (entry.info.user === user) {
        entry.kick(reason);
        n += 1;
      }
    }
    return n;
  }

  /**
   * The start of a graceful stop: sessions that have not logged in are closed politely,
   * SMTP sessions close after their transaction, spliced sessions go on until they end.
   */
  drain(): void {
    for (const entry of [...this.#sessions.values()]) {
      if (entry.drain) entry.drain();
      else if (entry.info.user === undefined) entry.kick('shutdown');
    }
  }

  /** Resolves when no session is left, or after `timeoutMs` (false then). */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#sessions.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Closes every session (drain timeout, shutdown). */
  kickAll(reason: string): void {
    for (const entry of [...this.#sessions.values()]) entry.kick(reason);
  }
}
