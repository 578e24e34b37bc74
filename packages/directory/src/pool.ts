import { createHash } from 'node:crypto';

/**
 * The weight of `member` for `key` in highest-random-weight (rendezvous) hashing: the first
 * 64 bits of SHA-256 over `member NUL key`, read big-endian. It depends on nothing but the two
 * strings, so every node computes the same number without talking to the others.
 */
export function rendezvousWeight(key: string, member: string): bigint {
  return createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
}

/**
 * The member of `members` that `key` belongs to: the one with the highest weight. Removing a
 * member moves only the keys it had (each to its second choice); adding one takes only the keys
 * it now wins. Equal weights (a 64-bit collision) go to the smaller name, so the result never
 * depends on the order of `members`. Undefined when there are no members.
 */
export function rendezvousPick(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const weight = rendezvousWeight(key, member);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}
