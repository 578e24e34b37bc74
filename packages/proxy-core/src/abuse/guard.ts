import type { AddressSet } from '../trusted.js';
import { addressKey, pairKey, userKey } from './keys.js';
import { MemoryStore } from './memory-store.js';
import { type AbuseSettings, penaltyDelay } from './settings.js';
import type { AbuseStore } from './store.js';

export type ConnectDecision =
  | { readonly ok: true; release(): void }
  | { readonly ok: false; readonly reason: 'blocked' | 'too-many-connections' };

export type SessionDecision =
  | { readonly ok: true; readonly count: number; release(): void }
  | { readonly ok: false; readonly reason: 'too-many-sessions'; readonly count: number };

export interface LoginGate {
  /** Refuse the attempt without checking it (answer it like any failed login). */
  readonly blocked: boolean;
  /** Which block applies, for the log line. */
  readonly blockedBy?: 'address' | 'user' | undefined;
  /** How long the block lasts still. */
  readonly blockedForMs?: number | undefined;
  /** Wait this long before answering the attempt, whatever its outcome will be. */
  readonly delayMs: number;
}

export interface LoginFailure {
  readonly addressFailures: number;
  readonly userFailures: number;
  /** The blocks this failure started. */
  readonly blocked: readonly ('address' | 'user')[];
}

/** A login's address block, user block, address failures and user failures. */
type Counts = [number, number, number, number];

/** Counts since start, for metrics. */
export interface AbuseCounters {
  /** Login attempts answered with an extra delay. */
  readonly penaltiesApplied: number;
  /** Login attempts refused because the address or the user was blocked. */
  readonly loginsBlocked: number;
  readonly blocksStarted: number;
  /** Connections closed at once: blocked address or too many from it. */
  readonly connectionsRefused: number;
  /** Logins refused because the user had too many sessions. */
  readonly sessionsRefused: number;
}

export interface AbuseGuardOptions {
  /** Addresses not limited as addresses (webmail, monitoring): their users still are. */
  readonly exempt?: AddressSet | undefined;
}

const noop = () => {};

/** The gate of a login with nothing on record: one object for all of them. */
const open: LoginGate = Object.freeze({ blocked: false, delayMs: 0 });

/**
 * The abuse limits as the protocol sessions ask for them: connections per address, a growing
 * delay and then a block after failed logins per address and per user, sessions per user. Address
 * connections are counted on this node (a flood must not cost a Redis write per connection);
 * everything else lives in the store, shared by the pool when it is Redis.
 */
export class AbuseGuard {
  readonly settings: AbuseSettings;
  readonly #store: AbuseStore;
  /** The store when it lives in this process: asked without promises (see MemoryStore). */
  readonly #local: MemoryStore | undefined;
  readonly #exempt: AddressSet | undefined;
  readonly #connections = new Map<string, number>();
  #counters: { -readonly [K in keyof AbuseCounters]: number } = {
    penaltiesApplied: 0,
    loginsBlocked: 0,
    blocksStarted: 0,
    connectionsRefused: 0,
    sessionsRefused: 0,
  };

  constructor(settings: AbuseSettings, store: AbuseStore, options: AbuseGuardOptions = {}) {
    this.settings = settings;
    this.#store = store;
    this.#local = store instanceof MemoryStore ? store : undefined;
    this.#exempt = options.exempt;
  }

  /**
   * On accept, before the greeting. Refused: say so (IMAP BYE, POP3 -ERR) and close. Answered
   * at once (no promise) when the state is in this process.
   */
  connect(address: string): ConnectDecision | Promise<ConnectDecision> {
    const key = this.#addressKey(address);
    if (key === undefined) return { ok: true, release: noop };
    const count = (this.#connections.get(key) ?? 0) + 1;
    this.#connections.set(key, count);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.#connections.get(key) ?? 0) - 1;
      if (left > 0) this.#connections.set(key, left);
      else this.#connections.delete(key);
    };
    const max = this.settings.maxConnectionsPerAddress;
    if (max > 0 && count > max) return this.#refuse(release, 'too-many-connections');
    const admit = (blockedMs: number): ConnectDecision =>
      blockedMs > 0 ? this.#refuse(release, 'blocked') : { ok: true, release };
    const local = this.#local;
    if (local) return admit(local.blockedForNow('address', key));
    return this.#store.blockedFor('address', key).then(admit);
  }

  #refuse(release: () => void, reason: 'blocked' | 'too-many-connections'): ConnectDecision {
    release();
    this.#counters.connectionsRefused += 1;
    return { ok: false, reason };
  }

  /**
   * When a login attempt (LOGIN, AUTHENTICATE, USER/PASS) is complete, before checking it.
   * Answered at once (no promise) when the state is in this process.
   */
  beforeLogin(address: string, user: string | undefined): LoginGate | Promise<LoginGate> {
    const local = this.#local;
    if (local) return this.#gate(this.#countsNow(local, address, user));
    const a = this.#addressKey(address);
    const u = user === undefined ? undefined : userKey(user);
    const window = this.settings.failureWindowMs;
    return Promise.all([
      a === undefined ? 0 : this.#store.blockedFor('address', a),
      u === undefined ? 0 : this.#userBlock(address, u),
      a === undefined ? 0 : this.#store.failures('address', a, window),
      u === undefined ? 0 : this.#store.failures('user', u, window),
    ]).then((counts) => this.#gate(counts));
  }

  /**
   * Whether a login of `user` from `address` would go ahead at once (neither blocked nor held
   * for a penalty), from this process's memory and counted nowhere; false where the state is
   * shared (Redis) and asking would take a round trip.
   */
  wouldPassNow(address: string, user: string): boolean {
    const local = this.#local;
    if (!local) return false;
    const [addressBlock, userBlock, addressFailures, userFailures] = this.#countsNow(
      local,
      address,
      user,
    );
    return (
      addressBlock === 0 && userBlock === 0 && this.#delay(addressFailures, userFailures) === 0
    );
  }

  /** The address's and user's blocks and failures, from memory. */
  #countsNow(local: MemoryStore, address: string, user: string | undefined): Counts {
    const a = this.#addressKey(address);
    const u = user === undefined ? undefined : userKey(user);
    const window = this.settings.failureWindowMs;
    return [
      a === undefined ? 0 : local.blockedForNow('address', a),
      u === undefined ? 0 : this.#userBlockNow(local, address, u),
      a === undefined ? 0 : local.failuresNow('address', a, window),
      u === undefined ? 0 : local.failuresNow('user', u, window),
    ];
  }

  #delay(addressFailures: number, userFailures: number): number {
    return Math.max(
      penaltyDelay(this.settings, addressFailures),
      penaltyDelay(this.settings, userFailures),
    );
  }

  /** The gate for [address block, user block, address failures, user failures]. */
  #gate([addressBlock, userBlock, addressFailures, userFailures]: Counts): LoginGate {
    if (addressBlock > 0 || userBlock > 0) {
      this.#counters.loginsBlocked += 1;
      return {
        blocked: true,
        blockedBy: addressBlock > 0 ? 'address' : 'user',
        blockedForMs: Math.max(addressBlock, userBlock),
        // A blocked client waits as long as the worst penalty: its retries cost it, not us.
        delayMs: this.settings.maxDelayMs,
      };
    }
    const delayMs = this.#delay(addressFailures, userFailures);
    if (delayMs === 0) return open;
    this.#counters.penaltiesApplied += 1;
    return { blocked: false, delayMs };
  }

  /** After a failed login (wrong password and unknown user alike); not after a blocked one. */
  async loginFailed(address: string, user: string | undefined): Promise<LoginFailure> {
    const a = this.#addressKey(address);
    const u = user === undefined ? undefined : userKey(user);
    const window = this.settings.failureWindowMs;
    const [addressFailures, userFailures] = await Promise.all([
      a === undefined ? 0 : this.#store.recordFailure('address', a, window),
      u === undefined ? 0 : this.#store.recordFailure('user', u, window),
      u === undefined ? 0 : this.#store.recordFailure('pair', this.#pair(address, u), window),
    ]);
    const { blockAddressAfterFailures: byAddress, blockUserAfterFailures: byUser } = this.settings;
    const blocks: ['address' | 'user', string][] = [];
    if (a !== undefined && byAddress > 0 && addressFailures >= byAddress)
      blocks.push(['address', a]);
    if (u !== undefined && byUser > 0 && userFailures >= byUser) blocks.push(['user', u]);
    await Promise.all(
      blocks.map(([kind, key]) => this.#store.block(kind, key, this.settings.blockMs)),
    );
    this.#counters.blocksStarted += blocks.length;
    return { addressFailures, userFailures, blocked: blocks.map(([kind]) => kind) };
  }

  /**
   * After a successful login. Failures are forgotten only where they were evidently this user's
   * own typos: the address's when all its recent failures were for this user, the user's when all
   * came from this address. So an attacker who holds one account cannot wipe its address's record
   * by logging in to it between guesses at others, and a user's own login does not wipe what an
   * attack from elsewhere counted against the name.
   */
  loginSucceeded(address: string, user: string): void | Promise<void> {
    const a = this.#addressKey(address);
    const u = userKey(user);
    const pair = this.#pair(address, u);
    const window = this.settings.failureWindowMs;
    const local = this.#local;
    if (local) {
      const pairFailures = local.failuresNow('pair', pair, window);
      // No failure of this pair: nothing is cleared, whatever else is on record.
      if (pairFailures === 0) return;
      const addressFailures = a === undefined ? 0 : local.failuresNow('address', a, window);
      const userFailures = local.failuresNow('user', u, window);
      local.clearFailuresNow('pair', pair);
      if (a !== undefined && addressFailures > 0 && addressFailures <= pairFailures) {
        local.clearFailuresNow('address', a);
      }
      if (userFailures > 0 && userFailures <= pairFailures) local.clearFailuresNow('user', u);
      return;
    }
    return this.#forgetTypos(a, u, pair, window);
  }

  async #forgetTypos(
    a: string | undefined,
    u: string,
    pair: string,
    window: number,
  ): Promise<void> {
    const [addressFailures, userFailures, pairFailures] = await Promise.all([
      a === undefined ? 0 : this.#store.failures('address', a, window),
      this.#store.failures('user', u, window),
      this.#store.failures('pair', pair, window),
    ]);
    await Promise.all([
      pairFailures > 0 ? this.#store.clearFailures('pair', pair) : undefined,
      a !== undefined && addressFailures > 0 && addressFailures <= pairFailures
        ? this.#store.clearFailures('address', a)
        : undefined,
      userFailures > 0 && userFailures <= pairFailures
        ? this.#store.clearFailures('user', u)
        : undefined,
    ]);
  }

  /**
   * When the backend has accepted the login, before the client is told: counts one more spliced
   * session of the user (`user`: the directory's name for them). Keep `release` for the end of
   * the splice; refused: log the backend out and answer with a temporary failure.
   */
  userSession(user: string): SessionDecision | Promise<SessionDecision> {
    const max = this.settings.maxConnectionsPerUser;
    if (max <= 0) return { ok: true, count: 0, release: noop };
    const local = this.#local;
    if (local) {
      const lease = local.openSessionNow(userKey(user));
      if (lease.count <= max) return { ok: true, count: lease.count, release: lease.release };
      lease.release();
      return this.#tooMany(lease.count);
    }
    return this.#sharedSession(user, max);
  }

  async #sharedSession(user: string, max: number): Promise<SessionDecision> {
    const lease = await this.#store.openSession(userKey(user));
    if (lease.count > max) {
      await lease.release();
      return this.#tooMany(lease.count);
    }
    return { ok: true, count: lease.count, release: () => void lease.release().catch(noop) };
  }

  /**
   * A move of the user (the directory's login) is under way: answer with a temporary failure.
   * Answered at once (no promise) when the state is in this process.
   */
  frozen(user: string): boolean | Promise<boolean> {
    const local = this.#local;
    if (local) return local.frozenForNow(userKey(user)) > 0;
    return this.#store.frozenFor(userKey(user)).then((ms) => ms > 0);
  }

  #tooMany(count: number): SessionDecision {
    this.#counters.sessionsRefused += 1;
    return { ok: false, reason: 'too-many-sessions', count };
  }

  counters(): AbuseCounters {
    return { ...this.#counters };
  }

  /** Open connections this node counts per address key (exempt addresses are not counted). */
  connections(): ReadonlyMap<string, number> {
    return this.#connections;
  }

  /**
   * How long logins as `user` from `address` stay refused by a block of the user. By default
   * only an address that has failed for this user is refused: one that has not may well be the
   * user, and an attack from elsewhere must not lock them out (it still slows them: the delay).
   */
  async #userBlock(address: string, user: string): Promise<number> {
    const ms = await this.#store.blockedFor('user', user);
    if (ms === 0 || this.settings.userBlockScope === 'everywhere') return ms;
    const own = await this.#store.failures(
      'pair',
      this.#pair(address, user),
      this.settings.failureWindowMs,
    );
    return own > 0 ? ms : 0;
  }

  #userBlockNow(local: MemoryStore, address: string, user: string): number {
    const ms = local.blockedForNow('user', user);
    if (ms === 0 || this.settings.userBlockScope === 'everywhere') return ms;
    const own = local.failuresNow('pair', this.#pair(address, user), this.settings.failureWindowMs);
    return own > 0 ? ms : 0;
  }

  #addressKey(address: string): string | undefined {
    if (this.#exempt?.has(address)) return undefined;
    return addressKey(address, this.settings.ipv6PrefixLength);
  }

  #pair(address: string, user: string): string {
    return pairKey(addressKey(address, this.settings.ipv6PrefixLength), user);
  }
}
