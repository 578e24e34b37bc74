import type { End } from './after-flip.js';
import type { Freezer } from './freezer.js';
import { type MoveOutcome, moveExit } from './outcome.js';
import type { MoveContext } from './run.js';
import type { MoveRecord, MoveState } from './state.js';

/** --abort: thaws a recorded move that has not flipped, and forgets it. */
export async function abort(
  ctx: MoveContext,
  state: MoveState,
  record: MoveRecord | undefined,
  login: string,
  end: End,
): Promise<MoveOutcome> {
  if (!record) {
    // Nothing recorded, but a freeze may outlive a mover killed before it wrote: lift it.
    await ctx.pool.thaw(login).catch(() => {});
    return end(moveExit.error, `no move of ${login} is recorded`, { login });
  }
  const who = { login, from: record.from, to: record.to };
  if (record.phase === 'flipped')
    return end(
      moveExit.error,
      `the move of ${login} is past the flip (the directory names ${record.to}): --resume finishes it; moving back is a new move`,
      who,
    );
  await ctx.pool.thaw(login);
  state.remove();
  return end(
    moveExit.done,
    `move aborted: ${login} stays on ${record.from}, thawed; the partial copy on ${record.to} stays`,
    who,
  );
}

/** A move stopped before the flip: forget it, thaw the user. */
export async function undo(freezer: Freezer | undefined, state: MoveState): Promise<void> {
  state.remove();
  await freezer?.stop();
}
