import type { MessageMeta } from './identity.js';

/** What makes one target mailbox hold what its source mailbox holds. */
export interface MailboxDiff {
  /** Source messages the target lacks. */
  readonly copy: readonly MessageMeta[];
  /** Target messages (by target UID) whose flags differ from their source's. */
  readonly setFlags: readonly { readonly uid: number; readonly flags: readonly string[] }[];
  /** Target messages the source no longer has (deleted since an earlier pass). */
  readonly remove: readonly number[];
}

/**
 * Matches the two sides by identity, counting duplicates (the same message twice is two
 * messages): each source message takes one target message of its identity, if one is left.
 */
export function diffMailbox(
  source: readonly MessageMeta[],
  target: readonly MessageMeta[],
): MailboxDiff {
  const waiting = new Map<string, MessageMeta[]>();
  for (const t of target) {
    const list = waiting.get(t.identity);
    if (list) list.push(t);
    else waiting.set(t.identity, [t]);
  }
  const copy: MessageMeta[] = [];
  const setFlags: { uid: number; flags: readonly string[] }[] = [];
  for (const s of source) {
    const t = waiting.get(s.identity)?.shift();
    if (!t) copy.push(s);
    else if (!sameFlags(s.flags, t.flags)) setFlags.push({ uid: t.uid, flags: s.flags });
  }
  const remove = [...waiting.values()].flat().map((t) => t.uid);
  return { copy, setFlags, remove };
}

/** Nothing to do: the verify step's test of one mailbox. */
export function inSync(diff: MailboxDiff): boolean {
  return diff.copy.length === 0 && diff.setFlags.length === 0 && diff.remove.length === 0;
}

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}
