export type SessionProtocol = 'imap' | 'pop3' | 'smtp' | 'lmtp' | 'submission';

export interface SessionInfo {
  readonly id: string;
  readonly protocol: SessionProtocol;
  readonly client: string;
  readonly since: Date;
  user?: string;
  backend?: string;
  /** Byte counts once spliced. */
  counts?: () => { up: number; down: number };
}

interface Entry {
  readonly info: SessionInfo;
  readonly kick: (reason: string) => void;
}

/** Live sessions of this node: listed by the admin API, kicked by user. */
export class SessionRegistry {
  readonly #sessions = new Map<string, Entry>();

  add(info: SessionInfo, kick: (reason: string) => void): () => void {
    this.#sessions.set(info.id, { info, kick });
    return () => this.#sessions.delete(info.id);
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

  /** Closes every session (drain timeout, shutdown). */
  kickAll(reason: string): void {
    for (const entry of [...this.#sessions.values()]) entry.kick(reason);
  }
}
