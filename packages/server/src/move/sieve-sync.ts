import { createHash } from 'node:crypto';
import type { Backend } from '@homing/directory';
import type { SeenOnSource } from './seen.js';
import { SieveClient } from './sieve-client.js';

export interface SieveResult {
  /** Scripts on the source. */
  readonly scripts: number;
  /** Written (or to write) to the target: new or changed. */
  readonly copy: number;
  /** On the target only: deleted (or to delete). */
  readonly remove: number;
  /**
   * On the target, absent from the source or other bytes there, and not this move's copy:
   * left alone (names).
   */
  readonly leftover: readonly string[];
  /** The active script differs (or would have). */
  readonly activate: boolean;
  readonly inSync: boolean;
  /** Why scripts were not looked at, when they were not. */
  readonly skipped?: string | undefined;
}

/**
 * Makes the target's Sieve scripts those of the source: same names, same bytes, the same one
 * active (RFC 5804). A target script that is neither the source's nor a version the source
 * held during this move (seen) is a leftover: not overwritten nor removed unless
 * replaceTarget. Skipped, and said so, when either backend has no ManageSieve service.
 */
export async function syncSieve(
  from: Backend,
  to: Backend,
  login: string,
  options: { dryRun: boolean; timeoutMs: number; seen: SeenOnSource; replaceTarget?: boolean },
): Promise<SieveResult> {
  if (!from.endpoints.managesieve)
    return skipped(`${from.name} has no managesieve service in the catalog`);
  if (!to.endpoints.managesieve)
    return skipped(`${to.name} has no managesieve service in the catalog: scripts not moved`);
  const source = await SieveClient.open(from, login, options.timeoutMs);
  try {
    const target = await SieveClient.open(to, login, options.timeoutMs);
    try {
      const [ours, theirs] = [await source.list(), await target.list()];
      const sourceDigests = new Map<string, string>();
      const scripts = new Map<string, Buffer>();
      for (const s of ours) {
        const script = await source.get(s.name);
        scripts.set(s.name, script);
        sourceDigests.set(s.name, digest(script));
      }
      const targetDigests = new Map<string, string>();
      for (const s of theirs) targetDigests.set(s.name, digest(await target.get(s.name)));
      // Another's script: not the source's bytes now, nor any the source held during this move.
      const leftover = theirs
        .map((s) => s.name)
        .filter((name) => {
          const there = targetDigests.get(name) as string;
          return (
            !options.replaceTarget &&
            sourceDigests.get(name) !== there &&
            !options.seen.hasScript(name, there)
          );
        });
      const kept = new Set(leftover);
      if (!options.dryRun) for (const [name, d] of sourceDigests) options.seen.noteScript(name, d);
      const copy = ours
        .filter((s) => !kept.has(s.name) && targetDigests.get(s.name) !== sourceDigests.get(s.name))
        .map((s) => ({ name: s.name, script: scripts.get(s.name) as Buffer }));
      const names = new Set(ours.map((s) => s.name));
      const remove = theirs.filter((s) => !names.has(s.name) && !kept.has(s.name));
      const active = ours.find((s) => s.active)?.name ?? '';
      const activeThere = theirs.find((s) => s.active)?.name ?? '';
      const activate = active !== activeThere;
      // The target's own script of that name is not the source's: activating it would turn on
      // another's filter. Left inactive, the pass stays out of sync and verify stops the move.
      const activeKept = active !== '' && kept.has(active);
      if (!options.dryRun) {
        for (const s of copy) await target.put(s.name, s.script);
        if (activate && !activeKept) await target.setActive(active);
        else if (remove.some((s) => s.active)) await target.setActive('');
        for (const s of remove) await target.remove(s.name);
      }
      return {
        scripts: ours.length,
        copy: copy.length,
        remove: remove.length,
        leftover,
        activate,
        inSync: copy.length === 0 && remove.length === 0 && leftover.length === 0 && !activate,
      };
    } finally {
      await target.logout();
    }
  } finally {
    await source.logout();
  }
}

function skipped(why: string): SieveResult {
  return {
    scripts: 0,
    copy: 0,
    remove: 0,
    leftover: [],
    activate: false,
    inSync: true,
    skipped: why,
  };
}

function digest(script: Buffer): string {
  return createHash('sha256').update(script).digest('hex');
}

/** --delete-source: the user's scripts on the old home, the active one deactivated first. */
export async function deleteScripts(
  from: Backend,
  login: string,
  timeoutMs: number,
): Promise<number> {
  if (!from.endpoints.managesieve) return 0;
  const client = await SieveClient.open(from, login, timeoutMs);
  try {
    const scripts = await client.list();
    if (scripts.some((s) => s.active)) await client.setActive('');
    for (const s of scripts) await client.remove(s.name);
    return scripts.length;
  } finally {
    await client.logout();
  }
}
