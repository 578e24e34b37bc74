import {
  type AddressKind,
  type Directory,
  DirectoryError,
  type Endpoint,
  type LookupOptions,
  type LookupResult,
  type Protocol,
  type Route,
} from '@homing/directory';
import type { Logger } from 'pino';
import { type BackendHealth, healthKey } from './health.js';
import type { Limits } from './limits.js';

export interface FindHomeOptions {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  readonly protocol: Protocol;
  /**
   * A service used when the home has none for `protocol` (mail delivery: LMTP, else SMTP); a
   * home counts as down only when every one of them is.
   */
  readonly fallback?: Protocol | undefined;
  /** A login (default), or a recipient of mail: its address rules and its log lines. */
  readonly kind?: AddressKind | undefined;
  readonly user: string;
  /** The client's password, when it gave one (not for OAuth): checked here for master logins. */
  readonly password: string | undefined;
  /** The session's logger: each line names the user. */
  readonly log: Logger;
}

/** What findHome needs of the node: the same for every question a listener asks. */
export interface HomeSources {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly isOwnAddress: (host: string, port: number) => boolean;
}

/**
 * One question for findHome, made per login or recipient. A class, not an object literal with a
 * `log` getter, which V8 makes some 25 times slower: the session's logger is read (and made, where
 * it is made on demand) only when a line is written.
 */
export class HomeQuery implements FindHomeOptions {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  readonly #logs: { readonly log: Logger };

  constructor(
    sources: HomeSources,
    readonly protocol: Protocol,
    readonly user: string,
    readonly password: string | undefined,
    logs: { readonly log: Logger },
    readonly kind: AddressKind = 'login',
    readonly fallback: Protocol | undefined = undefined,
  ) {
    this.directory = sources.directory;
    this.health = sources.health;
    this.limits = sources.limits;
    this.isOwnAddress = sources.isOwnAddress;
    this.#logs = logs;
  }

  get log(): Logger {
    return this.#logs.log;
  }
}

export type HomeResult =
  | {
      readonly kind: 'ok';
      readonly route: Route;
      readonly endpoint: Endpoint;
      /** The password was checked by LDAP bind: log in at the backend as its master user. */
      readonly useMaster: boolean;
    }
  /** Unknown user, or the directory refused the password: the one failure reply. */
  | { readonly kind: 'failed' }
  /** Directory or configuration trouble: a fast temporary failure. */
  | { readonly kind: 'unavailable'; readonly reason: UnavailableReason };

/** Why a home could not be used: mail delivery tells the sender which. */
export type UnavailableReason = 'directory' | 'no service' | 'loop' | 'password check';

/**
 * Everything a login learns before it talks to a backend, the same for every protocol: the
 * user's home (a healthy pool member), its service for this protocol, no route back to this
 * node, and, where the backend takes master logins, the password checked by the directory.
 * In the same turn when the directory has the user cached and no password is to be checked (a
 * login's common case: no promise to wait for), else a promise.
 */
export function findHome(options: FindHomeOptions): HomeResult | Promise<HomeResult> {
  // `options.log` is read only where a line is written (it may be made on demand).
  const { directory, health, limits, protocol, fallback, user } = options;
  const lookup: LookupOptions = {
    timeoutMs: limits.directoryTimeoutMs,
    kind: options.kind ?? 'login',
    isHealthy: healthyFor(health, protocol, fallback),
  };
  let found: LookupResult | undefined;
  try {
    found = directory.lookupNow(user, lookup);
  } catch (error) {
    return directoryUnavailable(options, error);
  }
  return found === undefined ? findHomeLater(options, lookup) : homeOf(options, found);
}

/** Whether a pool member may get a user now: its service for `protocol` (or `fallback`) is up. */
function healthyFor(
  health: BackendHealth,
  protocol: Protocol,
  fallback: Protocol | undefined,
): (name: string) => boolean {
  return fallback === undefined
    ? (name) => !health.isDown(healthKey(name, protocol))
    : (name) =>
        !health.isDown(healthKey(name, protocol)) || !health.isDown(healthKey(name, fallback));
}

/**
 * A login's home from the directory's cache alone, with no line logged and no cache hit
 * counted (a look ahead of the login, POP3's USER): undefined where findHome would ask the
 * source, fail, refuse a loop or use a stale route.
 */
export function cachedHome(
  sources: HomeSources,
  protocol: Protocol,
  user: string,
): { route: Route; endpoint: Endpoint } | undefined {
  let found: LookupResult | undefined;
  try {
    found = sources.directory.lookupNow(user, {
      timeoutMs: sources.limits.directoryTimeoutMs,
      kind: 'login',
      uncounted: true,
      isHealthy: healthyFor(sources.health, protocol, undefined),
    });
  } catch {
    return undefined;
  }
  const route = found?.route;
  const endpoint = route?.backend.endpoints[protocol];
  if (!route || !endpoint || found?.stale) return undefined;
  if (sources.isOwnAddress(route.backend.host, endpoint.port)) return undefined;
  return { route, endpoint };
}

/** findHome when the directory must ask its source. */
async function findHomeLater(options: FindHomeOptions, lookup: LookupOptions): Promise<HomeResult> {
  let found: LookupResult;
  try {
    found = await options.directory.lookup(options.user, lookup);
  } catch (error) {
    return directoryUnavailable(options, error);
  }
  return homeOf(options, found);
}

function directoryUnavailable(options: FindHomeOptions, error: unknown): HomeResult {
  options.log.warn(
    { user: options.user, err: error instanceof DirectoryError ? error.message : error },
    'directory unavailable',
  );
  return { kind: 'unavailable', reason: 'directory' };
}

/** The home of what the directory found: a promise only where a password is to be checked. */
function homeOf(options: FindHomeOptions, found: LookupResult): HomeResult | Promise<HomeResult> {
  const { directory, protocol, fallback, user } = options;
  const route = found.route;
  if (found.stale) options.log.warn({ user }, 'directory failing: using a stale route');
  if (!route) {
    options.log.info(
      { user },
      (options.kind ?? 'login') === 'login' ? 'login failed: no such user' : 'no such recipient',
    );
    return { kind: 'failed' };
  }
  const backend = route.backend.name;
  const endpoints = route.backend.endpoints;
  const endpoint = endpoints[protocol] ?? (fallback ? endpoints[fallback] : undefined);
  if (!endpoint) {
    options.log.error(
      { user, backend },
      `the home backend has no ${fallback ? `${protocol} or ${fallback}` : protocol} service configured`,
    );
    return { kind: 'unavailable', reason: 'no service' };
  }
  if (options.isOwnAddress(route.backend.host, endpoint.port)) {
    options.log.error({ user, backend }, 'route loop: the home backend is this proxy');
    return { kind: 'unavailable', reason: 'loop' };
  }
  if (!route.backend.master || !directory.canVerifyPasswords || options.password === undefined) {
    return { kind: 'ok', route, endpoint, useMaster: false };
  }
  return checkPassword(options, route, endpoint, options.password);
}

/** A master login's password, checked by the directory (an LDAP bind as the user). */
async function checkPassword(
  options: FindHomeOptions,
  route: Route,
  endpoint: Endpoint,
  password: string,
): Promise<HomeResult> {
  const user = options.user;
  try {
    if (!(await options.directory.verifyPassword(route, password))) {
      options.log.info({ user }, 'login failed: wrong password (directory bind)');
      return { kind: 'failed' };
    }
    return { kind: 'ok', route, endpoint, useMaster: true };
  } catch (error) {
    options.log.warn(
      { user, err: error instanceof Error ? error.message : error },
      'password check unavailable',
    );
    return { kind: 'unavailable', reason: 'password check' };
  }
}
