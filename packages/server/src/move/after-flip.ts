import type { Route } from '@homing/directory';
import type { ImapFlow } from 'imapflow';
import { deleteSourceCopy } from './delete-source.js';
import type { Freezer } from './freezer.js';
import { describe } from './imap-login.js';
import { type MoveOutcome, moveExit, type PassReport } from './outcome.js';
import type { MoveContext, MoveRequest } from './run.js';
import { deleteScripts } from './sieve-sync.js';
import type { MoveRecord, MoveState } from './state.js';
import type { SyncOptions } from './sync.js';

export type End = (
  code: MoveOutcome['code'],
  message: string,
  extra?: Partial<MoveOutcome>,
) => Promise<MoveOutcome>;
export type Pass = (
  name: PassReport['name'],
  options: Omit<SyncOptions, 'onProgress'>,
) => Promise<{ inSync: boolean }>;

/** What the steps after the flip are given. */
export interface AfterFlip {
  readonly ctx: MoveContext;
  readonly state: MoveState;
  readonly record: MoveRecord;
  readonly route: Route;
  readonly source: ImapFlow;
  readonly pass: Pass;
  readonly request: MoveRequest;
  readonly end: End;
  readonly who: Partial<MoveOutcome>;
  /** The freeze this mover holds; absent on --resume (the freeze is a dead mover's). */
  readonly freezer?: Freezer | undefined;
}

/** After the flip: flush every node, copy what reached the old home late, thaw, clean up. */
export async function finish(step: AfterFlip): Promise<MoveOutcome> {
  const { ctx, state, record, route, source, pass, request, end, who, freezer } = step;
  try {
    const addresses = addressesOf(request.user, route);
    await seeNewHome(ctx, record, addresses);
    await ctx.report({
      type: 'phase',
      phase: 'flush',
      message: `directory caches flushed pool-wide; the node sends ${record.login} to ${record.to}`,
    });
    // A delivery whose RCPT was accepted before the freeze may have finished since the verify.
    await pass('catch-up', { dryRun: false, copyOnly: true });
    if (freezer) await freezer.stop();
    else await ctx.pool.thaw(record.login);
    await ctx.report({
      type: 'phase',
      phase: 'thaw',
      message: `${record.login} thawed on ${record.to}`,
    });
    state.remove();
  } catch (error) {
    // Left frozen until --resume, or until the freeze runs out (move.freeze_max).
    freezer?.release();
    return end(
      moveExit.cleanup,
      `${record.login} is on ${record.to} now, but clean-up failed (${describe(error)}): run again with --resume`,
      who,
    );
  }
  if (request.deleteSource) {
    if (await (ctx.confirmDelete?.() ?? Promise.resolve(false))) {
      const gone = await deleteSourceCopy(source);
      const from = ctx.catalog.get(record.from);
      const scripts = from ? await deleteScripts(from, record.login, ctx.timeouts.socketMs) : 0;
      await ctx.report({
        type: 'phase',
        phase: 'delete-source',
        message: `old copy deleted (${gone} mailboxes, INBOX's messages, ${scripts} Sieve scripts)`,
      });
    } else
      await ctx.report({
        type: 'warning',
        message: 'the old copy stays: deletion was not confirmed',
      });
  }
  return end(moveExit.done, `${record.login} moved from ${record.from} to ${record.to}`, who);
}

/** How long the directory may take to show the flip (a users file re-read, an LDAP replica). */
const flipVisibleMs = 15_000;

/**
 * Flushes until the node the mover talks to sends the user to the new home: a node that looked
 * the user up between the flip and the moment its directory shows it (a watched file not yet
 * re-read, a lagging LDAP replica) would otherwise cache the old home. Thawing before that
 * would let the user log in on the old home.
 */
async function seeNewHome(ctx: MoveContext, record: MoveRecord, addresses: string[]) {
  const deadline = performance.now() + flipVisibleMs;
  for (;;) {
    for (const address of addresses) await ctx.pool.flush(address);
    const home = await ctx.pool.homeOf(record.login);
    if (home === record.to) {
      // Once more: the other nodes may have cached the old home while this one caught up.
      for (const address of addresses) await ctx.pool.flush(address);
      return;
    }
    if (performance.now() > deadline)
      throw new Error(`the directory still sends ${record.login} to ${home ?? 'nowhere'}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What the nodes may have cached the user under: the name given, the login, its addresses. */
function addressesOf(user: string, route: Route): string[] {
  const addresses = Object.values(route.attributes)
    .flat()
    .filter((a) => a.includes('@'));
  return [...new Set([user, route.login, ...addresses].map((a) => a.toLowerCase()))];
}
