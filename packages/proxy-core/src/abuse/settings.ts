/**
 * Abuse limits, one place, named; every value is a config setting (`abuse:`). A limit or
 * threshold of 0 turns that limit off (documented per setting); an explicit 0 is never replaced
 * by the default.
 */
export interface AbuseSettings {
  /** Open connections from one client address (IPv6: one prefix) on one node; 0: no limit. */
  readonly maxConnectionsPerAddress: number;
  /** Spliced sessions of one user across the pool (shared with `state: redis`); 0: no limit. */
  readonly maxConnectionsPerUser: number;
  /** How long a failed login counts against its address and its user (sliding window). */
  readonly failureWindowMs: number;
  /**
   * Failures within the window that cost nothing; the attempt after them is delayed by
   * `delayStepMs`. 0 and 1 both mean: delay from the first failure on.
   */
  readonly delayAfterFailures: number;
  /** The first extra delay; it doubles with each further failure. 0: no delays. */
  readonly delayStepMs: number;
  /** The longest extra delay before a login attempt is answered. */
  readonly maxDelayMs: number;
  /** Failures of one address within the window that block it for `blockMs`; 0: never. */
  readonly blockAddressAfterFailures: number;
  /**
   * Failures of one user name (from any address) within the window that block logins as that
   * user for `blockMs`; 0: never. Higher than the address threshold.
   */
  readonly blockUserAfterFailures: number;
  /**
   * Whom a user block refuses: only addresses that have themselves failed for that user within
   * the window (`failing-addresses`: strangers cannot lock the real user out), or every address
   * (`everywhere`: the user too, until the block ends).
   */
  readonly userBlockScope: UserBlockScope;
  /** How long a block lasts. */
  readonly blockMs: number;
  /** IPv6 clients are counted by this prefix (a host usually owns a whole /64); 128: per address. */
  readonly ipv6PrefixLength: number;
  /** Entries the in-process state keeps per table before the least recently used are dropped. */
  readonly memoryMaxEntries: number;
}

export type UserBlockScope = 'failing-addresses' | 'everywhere';

export const defaultAbuseSettings: AbuseSettings = {
  maxConnectionsPerAddress: 20,
  maxConnectionsPerUser: 10,
  failureWindowMs: 15 * 60_000,
  delayAfterFailures: 3,
  delayStepMs: 1000,
  maxDelayMs: 15_000,
  blockAddressAfterFailures: 10,
  blockUserAfterFailures: 20,
  userBlockScope: 'failing-addresses',
  blockMs: 15 * 60_000,
  ipv6PrefixLength: 64,
  memoryMaxEntries: 100_000,
};

/**
 * The extra delay before answering a login attempt when `failures` recent failures are on record:
 * nothing while fewer than `delayAfterFailures` are on record, then `delayStepMs`, doubling with
 * each further failure, up to `maxDelayMs`.
 */
export function penaltyDelay(settings: AbuseSettings, failures: number): number {
  const over = failures - Math.max(1, settings.delayAfterFailures);
  if (over < 0 || settings.delayStepMs <= 0) return 0;
  // 2 ** over overflows to Infinity for absurd counts; min() still gives the cap.
  return Math.min(settings.delayStepMs * 2 ** over, settings.maxDelayMs);
}
