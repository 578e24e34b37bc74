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

/**
 * Live sessions of this node: listed by the admin API, kicked by user.
 *
 * The sessions sit in reused slots, and a Map holds only each id's slot. A Map of the sessions
 * themselves rebuilt its table every few dozen logins on a busy node, and each table it left
 * in the old generation still pointed at the sessions it had held: every young-generation
 * collection kept those (and their sockets, streams and timers) alive and promoted them, for
 * a full collection to find dead later.
 */
export class SessionRegistry {
  readonly #entries: (SessionEntry | undefined)[] = [];
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];

  /**
   * Adds a session, or puts it in the place of the entry its id had (a spliced session takes
   * its pre-login entry's). `remove` it when it ends.
   */
  put(entry: SessionEntry): void {
    const id = entry.info.id;
    const slot = this.#slots.get(id);
    if (slot !== undefined) {
      this.#entries[slot] = entry;
      return;
    }
    const free = this.#free.pop() ?? this.#entries.length;
    this.#slots.set(id, free);
    this.#entries[free] = entry;
  }

  remove(id: string): void {
    const slot = this.#slots.get(id);
    if (slot === undefined) return;
    this.#slots.delete(id);
    this.#entries[slot] = undefined;
    this.#free.push(slot);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** The sessions now, in a list of their own (kicking one changes the registry). */
  #all(): SessionEntry[] {
    const all: SessionEntry[] = [];
    for (const entry of this.#entries) if (entry !== undefined) all.push(entry);
    return all;
  }

  /** The sessions, oldest first (slots are reused, so their order says nothing). */
  list(filter: { user?: string; backend?: string } = {}): SessionInfo[] {
    const found: { at: number; info: SessionInfo }[] = [];
    for (const { info } of this.#all()) {
      if (filter.user !== undefined && info.user !== filter.user) continue;
      if (filter.backend !== undefined && info.backend !== filter.backend) continue;
      found.push({ at: info.since.getTime(), info });
    }
    return found.sort((a, b) => a.at - b.at).map((f) => f.info);
  }

  /** Closes every session of the user; returns how many. */
  kick(user: string, reason = 'kicked'): number {
    let n = 0;
    for (const entry of this.#all()) {
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
    for (const entry of this.#all()) {
      if (entry.drain) entry.drain();
      else if (entry.info.user === undefined) entry.kick('shutdown');
    }
  }

  /** Resolves when no session is left, or after `timeoutMs` (false then). */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#slots.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Closes every session (drain timeout, shutdown). */
  kickAll(reason: string): void {
    for (const entry of this.#all()) entry.kick(reason);
  }
}
