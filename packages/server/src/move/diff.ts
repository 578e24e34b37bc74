import type { MessageMeta } from './identity.js';

/** What makes one target mailbox hold what its source mailbox holds. */
export interface MailboxDiff {
  /** Source messages the target lacks. */
  readonly copy: readonly MessageMeta[];
  /** Target messages (by target UID) whose flags differ from their source's. */
  readonly setFlags: readonly { readonly uid: number; readonly flags: readonly string[] }[];
  /** Target messages (UIDs) this move copied that the source no longer has: deleted since. */
  readonly remove: readonly number[];
  /**
   * Target messages the source lacks that are not this move's copies: left by an earlier move,
   * or delivered there since. Never removed unless the target is to be replaced.
   */
  readonly leftover: readonly MessageMeta[];
}

/**
 * Matches the two sides by identity, counting duplicates (the same message twice is two
 * messages): each source message takes one target message of its identity, if one is left.
 * Of the target messages left over, as many of an identity are removed as the source held
 * more of it at an earlier pass (`earlier`, see SeenOnSource) than it holds now: the user
 * deleted those since. The rest are leftovers. Without `earlier` (replace the target) every
 * target message the source lacks is removed.
 */
export function diffMailbox(
  source: readonly MessageMeta[],
  target: readonly MessageMeta[],
  earlier?: ReadonlyMap<string, number>,
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
  const held = new Map<string, number>();
  for (const s of source) held.set(s.identity, (held.get(s.identity) ?? 0) + 1);
  const remove: number[] = [];
  const leftover: MessageMeta[] = [];
  for (const [identity, rest] of waiting) {
    const deleted = earlier
      ? Math.max(0, (earlier.get(identity) ?? 0) - (held.get(identity) ?? 0))
      : rest.length;
    for (const [i, t] of rest.entries()) {
      if (i < deleted) remove.push(t.uid);
      else leftover.push(t);
    }
  }
  remove.sort((x, y) => x - y);
  leftover.sort((x, y) => x.uid - y.uid);
  return { copy, setFlags, remove, leftover };
}

/** Nothing to do: the verify step's test of one mailbox. */
export function inSync(diff: MailboxDiff): boolean {
  return (
    diff.copy.length === 0 &&
    diff.setFlags.length === 0 &&
    diff.remove.length === 0 &&
    diff.leftover.length === 0
  );
}

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}
