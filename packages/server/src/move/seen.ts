import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { MessageMeta } from './identity.js';

type Line = ['mail', string, string, number] | ['sieve', string, string];

/**
 * What the source held at any pass of this move: per mailbox, the most copies of each message
 * identity, and each Sieve script (name and digest). A message or script on the target that
 * the source held during this move is this move's copy; one it never held is someone else's
 * and a pass leaves it alone. Kept in an append-only file beside the move record, so that
 * --resume knows what the interrupted run copied; lines are added only when a count grows.
 */
export class SeenOnSource {
  private readonly mail = new Map<string, Map<string, number>>();
  private readonly scripts = new Set<string>();

  private constructor(private readonly path: string | undefined) {}

  /** In memory only: for a dry run, or no record. */
  static none(): SeenOnSource {
    return new SeenOnSource(undefined);
  }

  /** A new move's file, emptied (a file left by an earlier move describes another move). */
  static start(path: string): SeenOnSource {
    writeFileSync(path, '');
    return new SeenOnSource(path);
  }

  /** What an interrupted run recorded; lines are appended to the same file. */
  static load(path: string | undefined, options: { write: boolean }): SeenOnSource {
    const seen = new SeenOnSource(options.write ? path : undefined);
    let text = '';
    try {
      text = path === undefined ? '' : readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const entry = JSON.parse(line) as Line;
      if (entry[0] === 'mail') seen.raise(entry[1], entry[2], entry[3]);
      else seen.scripts.add(scriptKey(entry[1], entry[2]));
    }
    return seen;
  }

  /** The most copies of each identity the source's mailbox held at a pass so far. */
  counts(mailbox: string): ReadonlyMap<string, number> {
    return this.mail.get(mailbox) ?? new Map();
  }

  /** Notes what a source mailbox holds now; written before the pass changes anything. */
  noteMailbox(mailbox: string, messages: readonly MessageMeta[]): void {
    const now = new Map<string, number>();
    for (const m of messages) now.set(m.identity, (now.get(m.identity) ?? 0) + 1);
    const lines: Line[] = [];
    for (const [identity, count] of now)
      if (this.raise(mailbox, identity, count)) lines.push(['mail', mailbox, identity, count]);
    this.write(lines);
  }

  hasScript(name: string, digest: string): boolean {
    return this.scripts.has(scriptKey(name, digest));
  }

  noteScript(name: string, digest: string): void {
    const key = scriptKey(name, digest);
    if (this.scripts.has(key)) return;
    this.scripts.add(key);
    this.write([['sieve', name, digest]]);
  }

  private raise(mailbox: string, identity: string, count: number): boolean {
    let counts = this.mail.get(mailbox);
    if (!counts) {
      counts = new Map();
      this.mail.set(mailbox, counts);
    }
    if ((counts.get(identity) ?? 0) >= count) return false;
    counts.set(identity, count);
    return true;
  }

  private write(lines: readonly Line[]): void {
    if (this.path === undefined || lines.length === 0) return;
    appendFileSync(this.path, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  }
}

function scriptKey(name: string, digest: string): string {
  return `${name}\0${digest}`;
}
