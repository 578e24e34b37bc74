import type { DeliveryJournal } from './journal.js';

export interface MemoryJournalOptions {
  /** How long an entry is kept: longer than senders go on retrying (5 days is common). */
  readonly retentionMs: number;
  /** Most messages kept; the oldest go first. */
  readonly maxEntries: number;
  /** For tests; defaults to Date.now. */
  readonly now?: () => number;
}

interface Entry {
  readonly at: number;
  readonly delivered: Map<string, string>;
}

/** The journal of one node: a retry that reaches another node is not recognised. */
export class MemoryJournal implements DeliveryJournal {
  readonly available = true;
  /** In insertion order, which is age order: pruning looks at the front only. */
  readonly #entries = new Map<string, Entry>();
  readonly #options: MemoryJournalOptions;
  readonly #now: () => number;

  constructor(options: MemoryJournalOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  async delivered(fingerprint: string): Promise<ReadonlyMap<string, string>> {
    this.#prune();
    return this.#entries.get(fingerprint)?.delivered ?? new Map();
  }

  async record(fingerprint: string, delivered: ReadonlyMap<string, string>): Promise<void> {
    if (delivered.size === 0) return;
    const old = this.#entries.get(fingerprint);
    // Moved to the back: the retention window counts from the latest attempt.
    this.#entries.delete(fingerprint);
    const merged = new Map(old?.delivered);
    for (const [rcpt, reply] of delivered) merged.set(rcpt, reply);
    this.#entries.set(fingerprint, { at: this.#now(), delivered: merged });
    this.#prune();
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #prune(): void {
    const oldest = this.#now() - this.#options.retentionMs;
    for (const [key, entry] of this.#entries) {
      if (entry.at > oldest && this.#entries.size <= this.#options.maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
