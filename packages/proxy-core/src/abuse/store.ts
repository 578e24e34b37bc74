/** What a failure counter or block is about: a client address, a user name, or the two together. */
export type CounterKind = 'address' | 'user' | 'pair';

/**
 * Something every node of the pool should act on: drop cached directory entries (all, or one
 * login's), or close every session of a user. A node hears its own events too.
 */
export type PoolEvent =
  | { readonly type: 'flush'; readonly key?: string | undefined }
  | { readonly type: 'kick'; readonly user: string; readonly reason?: string | undefined };

export type PoolEventListener = (event: PoolEvent) => void;

/** One counted session; `release` uncounts it, and calling it again does nothing. */
export interface SessionLease {
  /** Sessions under the key including this one: pool-wide when the state is shared. */
  readonly count: number;
  release(): Promise<void>;
}

/**
 * Where failures, blocks and session counts live: in this process (`MemoryStore`) or shared by
 * the pool (`FallbackStore` over Redis). The guard relies on a store never throwing: a store that
 * cannot reach its backing service answers from what it knows itself.
 */
export interface AbuseStore {
  /** Records a failure now; returns the failures within the last `windowMs`, this one included. */
  recordFailure(kind: CounterKind, key: string, windowMs: number): Promise<number>;
  /** Failures within the last `windowMs`. */
  failures(kind: CounterKind, key: string, windowMs: number): Promise<number>;
  clearFailures(kind: CounterKind, key: string): Promise<void>;
  /** Blocks the key for `ms` from now (a later block replaces an earlier one). */
  block(kind: CounterKind, key: string, ms: number): Promise<void>;
  /** Milliseconds the key stays blocked; 0 when it is not blocked. */
  blockedFor(kind: CounterKind, key: string): Promise<number>;
  /** Counts one more live session under `key` (a user). */
  openSession(key: string): Promise<SessionLease>;
  /**
   * Freezes a user (the directory's login, as `userKey` makes it) for `ms`: a move is under way,
   * so logins and deliveries get a temporary failure. The expiry frees a user whose mover died.
   */
  freeze(user: string, ms: number): Promise<void>;
  /** Milliseconds the user stays frozen; 0 when not frozen. */
  frozenFor(user: string): Promise<number>;
  thaw(user: string): Promise<void>;
  /** Sends the event to every node's listeners, this node's included. */
  publish(event: PoolEvent): Promise<void>;
  /** Returns a function that unsubscribes. */
  subscribe(listener: PoolEventListener): () => void;
  close(): Promise<void>;
}

/** A PoolEvent from untrusted JSON (a Redis message), or undefined when it is not one. */
export function parsePoolEvent(value: unknown): PoolEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, key, user, reason } = value as Record<string, unknown>;
  const optional = (v: unknown): v is string | undefined =>
    v === undefined || typeof v === 'string';
  if (type === 'flush' && optional(key)) return key === undefined ? { type } : { type, key };
  if (type === 'kick' && typeof user === 'string' && optional(reason)) {
    return reason === undefined ? { type, user } : { type, user, reason };
  }
  return undefined;
}
