/** A mailbox as LIST shows it, reduced to what a move carries over. */
export interface MailboxInfo {
  readonly path: string;
  readonly delimiter: string;
  /** \Noselect or \NonExistent: a name in the hierarchy that holds no messages. */
  readonly selectable: boolean;
  /** The RFC 6154 attribute the server gave (not one guessed from the name). */
  readonly specialUse?: string | undefined;
  readonly subscribed: boolean;
}

/** One source mailbox and where it goes on the target. */
export interface MailboxPlan {
  readonly source: MailboxInfo;
  readonly targetPath: string;
  /** The target has no mailbox of that name yet. */
  readonly create: boolean;
  readonly subscribe: boolean;
  /**
   * The target's mailbox of that name has another special-use attribute (servers set these from
   * their config: the move does not change them, and says so).
   */
  readonly specialUseMismatch?: { readonly source: string; readonly target: string } | undefined;
}

/**
 * Where each source mailbox goes: the same names, the hierarchy written with the target's
 * delimiter (RFC 9051 §6.3.9), parents before children. A name that holds the target's delimiter
 * cannot be carried over and stops the move before anything is written.
 */
export function planMailboxes(
  source: readonly MailboxInfo[],
  target: readonly MailboxInfo[],
  targetDelimiter: string,
): MailboxPlan[] {
  const existing = new Map(target.map((m) => [m.path, m]));
  const plans = source.map((m): MailboxPlan => {
    const targetPath = translatePath(m.path, m.delimiter, targetDelimiter);
    const there = existing.get(targetPath);
    const theirs = there?.specialUse ?? '';
    const ours = m.specialUse ?? '';
    return {
      source: m,
      targetPath,
      create: there === undefined,
      subscribe: m.subscribed && !(there?.subscribed ?? false),
      ...(there !== undefined && theirs !== ours
        ? { specialUseMismatch: { source: ours, target: theirs } }
        : {}),
    };
  });
  return plans.sort((a, b) => depth(a) - depth(b) || a.targetPath.localeCompare(b.targetPath));
}

export function translatePath(path: string, from: string, to: string): string {
  if (path.toUpperCase() === 'INBOX') return 'INBOX';
  const parts = from === '' ? [path] : path.split(from);
  if (to !== '' && parts.some((p) => p.includes(to)))
    throw new Error(`mailbox "${path}" has the target's hierarchy delimiter "${to}" in a name`);
  return parts.join(to);
}

function depth(plan: MailboxPlan): number {
  const d = plan.source.delimiter;
  return d === '' ? 0 : plan.source.path.split(d).length;
}
