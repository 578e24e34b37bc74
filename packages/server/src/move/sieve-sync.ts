import { createHash } from 'node:crypto';
import type { Backend } from '@homing/directory';
import { SieveClient } from './sieve-client.js';

export interface SieveResult {
  /** Scripts on the source. */
  readonly scripts: number;
  /** Written (or to write) to the target: new or changed. */
  readonly copy: number;
  /** On the target only: deleted (or to delete). */
  readonly remove: number;
  /** The active script differs (or would have). */
  readonly activate: boolean;
  readonly inSync: boolean;
  /** Why scripts were not looked at, when they were not. */
  readonly skipped?: string | undefined;
}

/**
 * Makes the target's Sieve scripts those of the source: same names, same bytes, the same one
 * active (RFC 5804). Skipped, and said so, when either backend has no ManageSieve service.
 */
export async function syncSieve(
  from: Backend,
  to: Backend,
  login: string,
  options: { dryRun: boolean; timeoutMs: number },
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
      const there = new Map(theirs.map((s) => [s.name, s]));
      const copy: { name: string; script: Buffer }[] = [];
      for (const s of ours) {
        const script = await source.get(s.name);
        const existing = there.has(s.name) ? await target.get(s.name) : undefined;
        if (!existing || digest(existing) !== digest(script)) copy.push({ name: s.name, script });
      }
      const names = new Set(ours.map((s) => s.name));
      const remove = theirs.filter((s) => !names.has(s.name));
      const active = ours.find((s) => s.active)?.name ?? '';
      const activeThere = theirs.find((s) => s.active)?.name ?? '';
      const activate = active !== activeThere;
      if (!options.dryRun) {
        for (const s of copy) await target.put(s.name, s.script);
        if (activate || remove.some((s) => s.active)) await target.setActive(active);
        for (const s of remove) await target.remove(s.name);
      }
      return {
        scripts: ours.length,
        copy: copy.length,
        remove: remove.length,
        activate,
        inSync: copy.length === 0 && remove.length === 0 && !activate,
      };
    } finally {
      await target.logout();
    }
  } finally {
    await source.logout();
  }
}

function skipped(why: string): SieveResult {
  return { scripts: 0, copy: 0, remove: 0, activate: false, inSync: true, skipped: why };
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
