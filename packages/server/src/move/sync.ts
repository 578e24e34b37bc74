import type { ImapFlow } from 'imapflow';
import { batchesOf, fetchBodies } from './batches.js';
import { diffMailbox, inSync, type MailboxDiff } from './diff.js';
import type { MessageMeta } from './identity.js';
import { type MailboxPlan, planMailboxes } from './mailboxes.js';
import { delimiterOf, listMailboxes, scanMessages } from './scan.js';

/** How far a pass has come: mailboxes, messages and bytes copied so far. */
export interface SyncProgress {
  readonly mailbox: string;
  readonly mailboxesDone: number;
  readonly mailboxes: number;
  readonly copied: number;
  readonly bytes: number;
}

/** One mailbox of a pass: how many messages each side had, and what was (or would be) done. */
export interface MailboxResult {
  readonly path: string;
  readonly targetPath: string;
  readonly source: number;
  readonly target: number;
  readonly created: boolean;
  readonly copy: number;
  readonly setFlags: number;
  readonly remove: number;
}

export interface SyncResult {
  readonly mailboxes: MailboxResult[];
  readonly copied: number;
  readonly bytes: number;
  /** Things the move leaves as they are and says so (special-use the target sets otherwise). */
  readonly warnings: string[];
  /** Nothing was (or would have been) changed on the target: the two sides match. */
  readonly inSync: boolean;
}

export interface SyncOptions {
  /** Look and report, change nothing. */
  readonly dryRun: boolean;
  readonly onProgress?: ((progress: SyncProgress) => void | Promise<void>) | undefined;
  /**
   * Only append what the target lacks: no flags set, nothing removed. For the pass after the
   * flip, when the user may already be working on the target.
   */
  readonly copyOnly?: boolean | undefined;
  /** Called between messages; throws to stop the pass (a freeze that could not be renewed). */
  readonly check?: (() => void) | undefined;
}

/**
 * One pass: makes the target's copy of the user hold what the source holds. Missing mailboxes
 * are created and subscribed, missing messages appended with their flags and internal date,
 * flags that changed since an earlier pass set again, and messages the source no longer has
 * removed from the target. A pass after a pass copies only what is new; a pass that changes
 * nothing is the proof that both sides match (verify).
 */
export async function syncUser(
  source: ImapFlow,
  target: ImapFlow,
  options: SyncOptions,
): Promise<SyncResult> {
  const [from, to, delimiter] = [
    await listMailboxes(source),
    await listMailboxes(target),
    await delimiterOf(target),
  ];
  const plans = planMailboxes(from, to, delimiter);
  const warnings = plans
    .filter((p) => p.specialUseMismatch)
    .map(
      (p) =>
        `${p.targetPath}: special use ${p.specialUseMismatch?.source || 'none'} here, ${p.specialUseMismatch?.target || 'none'} on the target (set by the target server's config)`,
    );
  const selectable = plans.filter((p) => p.source.selectable);
  const results: MailboxResult[] = [];
  const totals = { copied: 0, bytes: 0 };
  let changes = 0;
  for (const plan of plans) {
    if (plan.create && plan.source.selectable) changes += 1;
    if (plan.subscribe) changes += 1;
    if (options.dryRun) continue;
    if (plan.create && plan.source.selectable) await target.mailboxCreate(plan.targetPath);
    if (plan.subscribe) await target.mailboxSubscribe(plan.targetPath);
  }
  for (const [i, plan] of selectable.entries()) {
    const report = (mailboxesDone: number) =>
      options.onProgress?.({
        mailbox: plan.source.path,
        mailboxesDone,
        mailboxes: selectable.length,
        ...totals,
      });
    await report(i);
    await source.mailboxOpen(plan.source.path, { readOnly: true });
    const theirs = await scanMessages(source);
    const ours =
      plan.create && options.dryRun
        ? []
        : await openAndScan(target, plan.targetPath, options.dryRun);
    const full = diffMailbox(theirs, ours);
    const diff = options.copyOnly ? { copy: full.copy, setFlags: [], remove: [] } : full;
    if (!inSync(diff)) changes += 1;
    results.push(resultOf(plan, theirs.length, ours.length, diff));
    if (options.dryRun) continue;
    // The next batch is fetched from the source while this one is appended to the target:
    // two batches in memory at most.
    const batches = batchesOf(diff.copy);
    let next = prefetch(source, batches[0]);
    for (const [k, batch] of batches.entries()) {
      const bodies = (await next) ?? new Map<number, Buffer>();
      next = prefetch(source, batches[k + 1]);
      for (const message of batch) {
        options.check?.();
        // Gone since the scan (expunged by the user): the next pass sees it gone.
        const body = bodies.get(message.uid);
        if (!body) continue;
        await target.append(plan.targetPath, body, [...message.flags], message.internalDate);
        totals.copied += 1;
        totals.bytes += body.length;
        await report(i);
      }
    }
    for (const { uid, flags } of diff.setFlags)
      await target.messageFlagsSet(String(uid), [...flags], { uid: true });
    if (diff.remove.length > 0) await target.messageDelete(diff.remove.join(','), { uid: true });
    await report(i + 1);
  }
  return { mailboxes: results, ...totals, warnings, inSync: changes === 0 };
}

/** Starts fetching a batch; a failure is kept for the await, never left unhandled. */
function prefetch(
  client: ImapFlow,
  batch: readonly MessageMeta[] | undefined,
): Promise<Map<number, Buffer> | undefined> {
  if (!batch) return Promise.resolve(undefined);
  const promise = fetchBodies(client, batch);
  promise.catch(() => {});
  return promise;
}

async function openAndScan(client: ImapFlow, path: string, readOnly: boolean) {
  await client.mailboxOpen(path, { readOnly });
  return scanMessages(client);
}

function resultOf(
  plan: MailboxPlan,
  source: number,
  target: number,
  diff: MailboxDiff,
): MailboxResult {
  return {
    path: plan.source.path,
    targetPath: plan.targetPath,
    source,
    target,
    created: plan.create,
    copy: diff.copy.length,
    setFlags: diff.setFlags.length,
    remove: diff.remove.length,
  };
}
