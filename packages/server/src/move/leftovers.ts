import type { Backend } from '@homing/directory';
import type { ImapFlow } from 'imapflow';
import type { SeenOnSource } from './seen.js';
import { type SieveResult, syncSieve } from './sieve-sync.js';
import { type SyncResult, syncUser } from './sync.js';

/** What the target holds for the user that the source lacks and this move did not copy. */
export interface Leftover {
  /** The target's mailbox, or `Sieve` for scripts. */
  readonly mailbox: string;
  readonly count: number;
  /** A few of them: Message-ID, internal date and size; script names for Sieve. */
  readonly examples: readonly string[];
}

export function leftoversOf(mail: SyncResult, sieve: SieveResult | undefined): Leftover[] {
  const found: Leftover[] = mail.mailboxes
    .filter((m) => m.leftover > 0)
    .map((m) => ({ mailbox: m.targetPath, count: m.leftover, examples: m.leftoverExamples ?? [] }));
  if (sieve && sieve.leftover.length > 0)
    found.push({ mailbox: 'Sieve', count: sieve.leftover.length, examples: sieve.leftover });
  return found;
}

/** Looks at both sides, changes nothing: the check before a move's first pass. */
export async function findLeftovers(
  sides: { source: ImapFlow; target: ImapFlow; from: Backend; to: Backend; login: string },
  seen: SeenOnSource,
  timeoutMs: number,
): Promise<Leftover[]> {
  const mail = await syncUser(sides.source, sides.target, { dryRun: true, seen });
  const sieve = await syncSieve(sides.from, sides.to, sides.login, {
    dryRun: true,
    timeoutMs,
    seen,
  });
  return leftoversOf(mail, sieve);
}

export function describeLeftovers(leftovers: readonly Leftover[]): string {
  return leftovers
    .map((l) =>
      l.mailbox === 'Sieve'
        ? `Sieve: ${l.count} script(s) not on the source or different there (${l.examples.join(', ')})`
        : `${l.mailbox}: ${l.count} message(s) (${l.examples.join('; ')}${l.count > l.examples.length ? '; …' : ''})`,
    )
    .join('; ');
}
