import type { Catalog, Directory, Route } from '@homing/directory';
import type { ImapFlow } from 'imapflow';
import type { Config } from '../config/schema.js';
import { abort, undo } from './abort.js';
import { finish } from './after-flip.js';
import { flipHome, flipUnsupported, type WriteBind } from './flip.js';
import { Freezer } from './freezer.js';
import { describe, type ImapTimeouts, loginAsUser } from './imap-login.js';
import { type MoveOutcome, moveExit, type PassReport } from './outcome.js';
import type { PoolControl } from './pool-control.js';
import { syncSieve } from './sieve-sync.js';
import { type MoveRecord, MoveState } from './state.js';
import { type SyncOptions, type SyncProgress, syncUser } from './sync.js';

export interface MoveRequest {
  readonly user: string;
  /** Catalog name of the new home; a recorded move knows its own. */
  readonly to?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly resume?: boolean | undefined;
  readonly abort?: boolean | undefined;
  readonly deleteSource?: boolean | undefined;
}

export type MoveEvent =
  | { readonly type: 'phase'; readonly phase: string; readonly message: string }
  | {
      readonly type: 'progress';
      readonly pass: PassReport['name'];
      readonly progress: SyncProgress;
    }
  | { readonly type: 'warning'; readonly message: string };

export interface MoveContext {
  readonly config: Config;
  readonly directory: Directory;
  readonly catalog: Catalog;
  readonly pool: PoolControl;
  readonly bind?: WriteBind | undefined;
  readonly timeouts: ImapTimeouts;
  /** Told of each phase, warning and step of progress; the move waits for what it returns. */
  readonly report: (event: MoveEvent) => void | Promise<void>;
  /** Asked before the old home's copy is deleted; false keeps it. */
  readonly confirmDelete?: (() => Promise<boolean>) | undefined;
}

/**
 * A user's move, phase by phase: pre-copy while the user works, freeze and kick pool-wide,
 * final pass, verify, flip the home in the directory, flush every node, catch-up, thaw. Any
 * failure before the flip thaws and leaves the user on the old home, which the move only
 * reads; after the flip only clean-up remains, and --resume finishes it.
 */
export async function runMove(request: MoveRequest, ctx: MoveContext): Promise<MoveOutcome> {
  const passes: PassReport[] = [];
  const warnings: string[] = [];
  const base = { user: request.user, passes, warnings };
  const end = async (
    code: MoveOutcome['code'],
    message: string,
    extra: Partial<MoveOutcome> = {},
  ): Promise<MoveOutcome> => {
    await ctx.report({ type: 'phase', phase: 'end', message });
    return { ...base, ...extra, code, message };
  };
  const found = await ctx.directory
    .lookup(request.user, { kind: 'login' })
    .catch((e: unknown) => e);
  if (found instanceof Error) return end(moveExit.error, `directory: ${found.message}`);
  const route = (found as { route?: Route }).route;
  if (!route) return end(moveExit.noSuchUser, `no such user: ${request.user}`);
  const login = route.login;
  const state = new MoveState(ctx.config.move.state_dir, login);
  const record = state.read();
  const who = { login, from: record?.from ?? route.backend.name, to: record?.to ?? request.to };

  if (request.abort) return abort(ctx, state, record, login, end);
  if (record && !request.resume)
    return end(
      moveExit.recorded,
      `a move of ${login} to ${record.to} is recorded (phase ${record.phase}, ${state.path}): run again with --resume or --abort`,
      who,
    );
  if (request.resume && !record) return end(moveExit.error, `no move of ${login} is recorded`, who);
  if (record && request.to !== undefined && request.to !== record.to)
    return end(
      moveExit.error,
      `the recorded move of ${login} goes to ${record.to}, not ${request.to}`,
      who,
    );
  const toName = record?.to ?? request.to;
  if (toName === undefined) return end(moveExit.error, 'say where to: --to BACKEND', who);
  const to = ctx.catalog.get(toName);
  if (!to) return end(moveExit.error, `no backend ${toName} in the catalog`, who);

  // Flipped already (recorded so, or the record's update was lost): only clean-up is left.
  const flipped = record?.phase === 'flipped' || (record && route.backend.name === to.name);
  const from = flipped && record ? ctx.catalog.get(record.from) : route.backend;
  if (!from) return end(moveExit.error, `no backend ${record?.from} in the catalog`, who);
  if (!flipped) {
    if (from.name === to.name) return end(moveExit.done, `${login} is on ${to.name} already`, who);
    if (from.pool)
      return end(
        moveExit.error,
        `${login} lives on pool ${from.pool}: its members share storage, nothing to move`,
        who,
      );
    const unsupported = flipUnsupported(ctx.config, ctx.bind);
    if (unsupported) return end(moveExit.error, unsupported, who);
  }

  let source: ImapFlow | undefined;
  let target: ImapFlow | undefined;
  try {
    await ctx.report({
      type: 'phase',
      phase: 'connect',
      message: `${login}: ${from.name} → ${to.name}`,
    });
    try {
      source = await loginAsUser(from, login, ctx.timeouts);
      target = await loginAsUser(to, login, ctx.timeouts);
    } catch (error) {
      return end(moveExit.aborted, `${describe(error)}; nothing was changed`, who);
    }
    const pass = async (name: PassReport['name'], options: Omit<SyncOptions, 'onProgress'>) => {
      await ctx.report({ type: 'phase', phase: name, message: `${name} pass` });
      const result = await syncUser(source as ImapFlow, target as ImapFlow, {
        ...options,
        onProgress: (progress) => ctx.report({ type: 'progress', pass: name, progress }),
      });
      // Filters move with the mail; after the flip the user may already be editing them.
      const sieve = options.copyOnly
        ? undefined
        : await syncSieve(from, to, login, {
            dryRun: options.dryRun,
            timeoutMs: ctx.timeouts.socketMs,
          });
      passes.push({
        name,
        copied: result.copied,
        bytes: result.bytes,
        mailboxes: result.mailboxes,
        ...(sieve ? { sieve } : {}),
      });
      const found = [...result.warnings];
      // The target is made a copy of the source: say what that takes away there, before or as
      // it happens (later passes remove what the user deleted meanwhile, not worth a word).
      if (name === 'dry-run' || name === 'pre-copy')
        for (const m of result.mailboxes.filter((m) => m.remove > 0))
          found.push(
            `${m.targetPath} on ${to.name}: ${m.remove} message(s) ${from.name} does not hold ${name === 'dry-run' ? 'would be' : 'were'} removed`,
          );
      if (sieve?.skipped && from.endpoints.managesieve) found.push(`Sieve: ${sieve.skipped}`);
      for (const w of found) {
        if (warnings.includes(w)) continue;
        warnings.push(w);
        await ctx.report({ type: 'warning', message: w });
      }
      return { ...result, sieve, inSync: result.inSync && (sieve?.inSync ?? true) };
    };

    if (request.dryRun) {
      await pass('dry-run', { dryRun: true });
      return end(moveExit.done, `dry run: nothing was changed`, who);
    }
    const after = { ctx, state, route, source, pass, request, end, who };
    if (flipped && record) return await finish({ ...after, record });

    let current: MoveRecord =
      record ??
      state.create({ user: request.user, login, from: from.name, to: to.name, phase: 'copying' });
    let freezer: Freezer | undefined;
    try {
      await pass('pre-copy', { dryRun: false });
      freezer = new Freezer(ctx.pool, login, ctx.config.move.freeze_max);
      const granted = await freezer.start();
      current = state.update(current, 'frozen');
      const kicked = await ctx.pool.kick(login);
      await ctx.report({
        type: 'phase',
        phase: 'freeze',
        message: `frozen for up to ${Math.round(granted / 1000)}s (renewed while the move works), ${kicked} session(s) kicked`,
      });
      const check = () => freezer?.check();
      await pass('final', { dryRun: false, check });
      // Once more: a login that was past the freeze check when the freeze began may have
      // reached the old home since; whatever it wrote there the verify below finds.
      await ctx.pool.kick(login);
      const verify = await pass('verify', { dryRun: true, check });
      if (!verify.inSync) {
        const differing = verify.mailboxes
          .filter((m) => m.copy + m.setFlags + m.remove > 0 || (m.created && m.source > 0))
          .map((m) => `${m.path} (${m.source} here, ${m.target} there)`);
        if (verify.sieve && !verify.sieve.inSync) differing.push('Sieve scripts');
        await undo(freezer, state);
        return end(
          moveExit.differs,
          `verification found differences, stopped before the flip; ${login} stays on ${from.name}: ${differing.join(', ') || 'mailboxes or subscriptions'}`,
          who,
        );
      }
      freezer.check();
      await ctx.report({
        type: 'phase',
        phase: 'flip',
        message: `directory: ${login} → ${to.name}`,
      });
      await flipHome(ctx.config, route, to.name, ctx.bind);
      current = state.update(current, 'flipped');
    } catch (error) {
      await undo(freezer, state).catch((e: unknown) =>
        warnings.push(
          `thaw failed (the freeze ends by itself within move.freeze_max): ${String(e)}`,
        ),
      );
      return end(
        moveExit.aborted,
        `${describe(error)}; stopped before the flip: ${login} stays on ${from.name}, thawed, nothing lost`,
        who,
      );
    }
    return await finish({ ...after, record: current, freezer });
  } finally {
    await Promise.allSettled([source?.logout(), target?.logout()]);
    source?.close();
    target?.close();
  }
}
