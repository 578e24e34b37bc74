import type { SieveResult } from './sieve-sync.js';
import type { MailboxResult } from './sync.js';

/** What `homing move` exits with: each says where the user is and what is left to do. */
export const moveExit = {
  /** Moved (or, for --dry-run and --abort, done as asked). */
  done: 0,
  /** Nothing was started: bad arguments, config, unknown backend, a directory it cannot flip. */
  error: 1,
  noSuchUser: 2,
  /** Stopped before the flip: the user is on the old home, thawed, nothing lost. */
  aborted: 3,
  /** Verification found a difference: stopped before the flip, as for `aborted`. */
  differs: 4,
  /** Flipped (the user is on the new home), but clean-up failed: run --resume. */
  cleanup: 5,
  /** A move of this user is recorded already: --resume or --abort it. */
  recorded: 6,
} as const;

export interface PassReport {
  readonly name: 'dry-run' | 'pre-copy' | 'final' | 'verify' | 'catch-up';
  readonly copied: number;
  readonly bytes: number;
  readonly mailboxes: readonly MailboxResult[];
  /** The user's Sieve scripts (not in the catch-up pass, which only appends mail). */
  readonly sieve?: SieveResult | undefined;
}

export interface MoveOutcome {
  readonly code: (typeof moveExit)[keyof typeof moveExit];
  readonly user: string;
  readonly login?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly message: string;
  readonly passes: PassReport[];
  readonly warnings: string[];
}
