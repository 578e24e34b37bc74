import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Directory, Endpoint, Route } from '@homing/directory';
import { gateLogin } from './abuse/login.js';
import { type Credentials, passwordOf } from './credentials.js';
import { type Cancellation, Deadline } from './deadline.js';
import { atLeast } from './delay.js';
import type { EarlyBackend } from './early-backend.js';
import { findHome, HomeQuery } from './find-home.js';
import type { BackendHealth } from './health.js';
import type { Limits } from './limits.js';
import type { ClientConnection } from './listener.js';
import { loginOnBackend, type OpenBackendResult, openBackend } from './open-backend.js';
import { encodePlain } from './sasl.js';

/** What a login needs of its listener: the same for every session, made once. */
export interface LoginPath {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
}

/** A protocol's side of a backend conversation before the splice. */
export interface BackendConversation {
  readonly socket: Socket | TLSSocket;
}

/** What a login needs of the client's connection. */
export type LoginClient = Pick<
  ClientConnection,
  'id' | 'client' | 'local' | 'log' | 'metrics' | 'guard'
>;

/** What the replay of a login is given. */
export interface Replay<X> {
  readonly connection: LoginClient;
  readonly route: Route;
  readonly endpoint: Endpoint;
  readonly credentials: Credentials;
  /** The password was checked by a directory bind: log in as the backend's master user. */
  readonly useMaster: boolean;
  /** What the protocol's session adds (IMAP: the client's ID fields). */
  readonly extra: X;
}

/** How the backend took the replayed login. */
export type ReplayVerdict<R> =
  | { readonly kind: 'ok'; readonly reply: R }
  /** The credentials were refused: the one failure reply. */
  | { readonly kind: 'rejected'; readonly detail: string }
  /** A refusal of the backend's own (POP3 `-ERR [IN-USE]`), for the client as it is. */
  | { readonly kind: 'refused'; readonly reply: R; readonly detail: string }
  /** The backend's trouble, not the user's: a temporary failure. */
  | { readonly kind: 'unavailable'; readonly reason: string };

/** The protocol's part of a login: its backend greeting and its replay; nothing else differs. */
export interface LoginDialect<S extends BackendConversation, R, X> {
  readonly protocol: 'imap' | 'pop3' | 'submission' | 'managesieve';
  /**
   * false: the session is not spliced (submission goes on speaking SMTP), so it takes none of
   * the user's session slots.
   */
  readonly spliced?: boolean;
  /** Reads the greeting and does STARTTLS within `signal`; throws when the backend is unusable. */
  greet(
    socket: Socket | TLSSocket,
    tls: ConnectionOptions,
    endpoint: Endpoint,
    limits: Limits,
    signal: Cancellation,
  ): Promise<S>;
  /** Forwards the client address and replays the login within `signal`. */
  replay(session: S, replay: Replay<X>, signal: Cancellation): Promise<ReplayVerdict<R>>;
  /**
   * Hands the backend the client's address where that takes a round trip of its own (POP3's
   * XCLIENT), for a backend opened ahead of the login: the replay then skips it.
   */
  forward?(
    session: S,
    connection: LoginClient,
    endpoint: Endpoint,
    signal: Cancellation,
  ): Promise<void>;
}

export type LoginResult<S, R> =
  /** Logged in at the user's home, with a session slot: answer, then splice. */
  | {
      readonly kind: 'ok';
      readonly route: Route;
      readonly session: S;
      readonly reply: R;
      readonly release: () => void;
    }
  /** Unknown user, wrong credentials, or blocked: answered after the failed-login delay. */
  | { readonly kind: 'failed' }
  /** Directory or backend unusable: a fast temporary failure. */
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'refused'; readonly reply: R }
  /** The user has as many sessions as allowed. */
  | { readonly kind: 'limit'; readonly sessions: number }
  /** The client left while the backend login was under way: nobody to answer. */
  | { readonly kind: 'abandoned' };

const noRelease = () => {};

/**
 * The one login of every protocol: abuse gate → the user's home → a backend connection →
 * the replayed login → the user's session slot. Failures are logged, counted and (for the
 * failed kind) delayed here, so that every protocol answers them alike.
 */
export async function login<S extends BackendConversation, R, X>(
  path: LoginPath,
  dialect: LoginDialect<S, R, X>,
  connection: LoginClient,
  credentials: Credentials,
  extra: X,
  closed: () => boolean,
  /**
   * A connection to the user's backend opened before the password came (POP3's USER), taken
   * when it is the same user's at the same backend; its owner drops it after the login.
   */
  early?: EarlyBackend<S>,
): Promise<LoginResult<S, R>> {
  const { guard } = connection;
  const { protocol } = dialect;
  const address = connection.client.address;
  const user = credentials.user;
  const mech = credentials.mechanism;
  const gate = gateLogin(guard, address, user);
  if (gate === true || (gate !== false && (await gate))) {
    connection.log.info({ user, mech }, 'login refused: address or user blocked');
    return failedLogin(connection, protocol, path.limits, performance.now());
  }
  const startedAt = performance.now();
  // The failure is on record (in Redis too, for the pool's other nodes) before the client hears
  // of it: its next try, on any node, already counts it. The failed-login delay covers the wait.
  const failed = async (): Promise<LoginResult<S, R>> => {
    const recorded = guard?.loginFailed(address, user).catch(() => undefined);
    const result = await failedLogin(connection, protocol, path.limits, startedAt);
    await recorded;
    return result;
  };
  const unavailable = (): LoginResult<S, R> => {
    connection.metrics.login(protocol, 'unavailable');
    return { kind: 'unavailable' };
  };

  // A cached user is found in this turn: no await for the common case.
  let home = findHome(new HomeQuery(path, protocol, user, passwordOf(credentials), connection));
  if (home instanceof Promise) home = await home;
  if (home.kind === 'failed') return failed();
  if (home.kind === 'unavailable') return unavailable();
  const { route, endpoint } = home;
  const backend = route.backend.name;
  // After the directory found the user (and checked the password where it does so).
  const frozen = guard?.frozen(route.login) ?? false;
  if (frozen === true || (frozen !== false && (await frozen))) {
    connection.log.info({ user, login: route.login }, 'login deferred: the user is being moved');
    return unavailable();
  }

  // One timer and signal for the backend's connect and then its login, each with its own limit.
  const deadline = new Deadline(path.limits.backendConnectTimeoutMs);
  const ready = early && (await early.take(user, route, endpoint));
  const opened = ready
    ? { ok: true as const, session: ready }
    : await openHome(path, dialect, connection, route, endpoint, deadline);
  if (!opened.ok) {
    deadline.clear();
    if (opened.local) {
      connection.log.error(
        { user, backend, code: opened.local, reason: opened.reason },
        'node out of resources',
      );
    } else {
      connection.log.warn({ user, mech, backend, reason: opened.reason }, 'backend unavailable');
    }
    return unavailable();
  }
  const { session } = opened;
  const replay: Replay<X> = {
    connection,
    route,
    endpoint,
    credentials,
    useMaster: home.useMaster,
    extra,
  };
  const verdict = await loginOnBackend(
    session,
    backend,
    path.limits,
    (signal) => dialect.replay(session, replay, signal),
    deadline,
  );
  deadline.clear();
  if (verdict.kind !== 'ok') session.socket.destroy();
  if (closed()) {
    session.socket.destroy();
    return { kind: 'abandoned' };
  }
  switch (verdict.kind) {
    case 'rejected':
      connection.log.info(
        { user, mech, backend, reply: verdict.detail },
        'login failed: rejected by the backend',
      );
      return failed();
    case 'refused':
      connection.log.info(
        { user, mech, backend, reply: verdict.detail },
        'login refused by the backend',
      );
      return { kind: 'refused', reply: verdict.reply };
    case 'unavailable':
      connection.log.warn({ user, mech, backend, reason: verdict.reason }, 'backend unavailable');
      return unavailable();
    case 'ok':
      break;
  }
  void guard?.loginSucceeded(address, route.login);
  let slot = guard && dialect.spliced !== false ? guard.userSession(route.login) : undefined;
  if (slot instanceof Promise) slot = await slot;
  if (slot && !slot.ok) {
    session.socket.destroy();
    connection.log.info(
      { user, sessions: slot.count },
      'login refused: too many sessions for this user',
    );
    return { kind: 'limit', sessions: slot.count };
  }
  connection.metrics.login(protocol, 'ok');
  return { kind: 'ok', route, session, reply: verdict.reply, release: slot?.release ?? noRelease };
}

/** openBackend for `route`'s `endpoint`, greeted as `dialect` greets. */
export function openHome<S extends BackendConversation, R, X>(
  path: LoginPath,
  dialect: LoginDialect<S, R, X>,
  connection: LoginClient,
  route: Route,
  endpoint: Endpoint,
  deadline: Deadline,
): Promise<OpenBackendResult<S>> {
  return openBackend({
    backend: route.backend,
    deadline,
    endpoint,
    protocol: dialect.protocol,
    connection,
    limits: path.limits,
    health: path.health,
    greet: (socket, tls, signal) => dialect.greet(socket, tls, endpoint, path.limits, signal),
  });
}

/**
 * A failed login, counted, answered no sooner than `failed_login_delay` after `startedAt`, so
 * that an unknown user, a wrong password and a block look alike from outside.
 */
export async function failedLogin(
  connection: Pick<ClientConnection, 'metrics'>,
  protocol: LoginDialect<BackendConversation, unknown, unknown>['protocol'],
  limits: Limits,
  startedAt: number,
): Promise<{ readonly kind: 'failed' }> {
  connection.metrics.login(protocol, 'failed');
  await atLeast(startedAt, limits.failedLoginDelayMs);
  return { kind: 'failed' };
}

/**
 * The SASL PLAIN message (RFC 4616) that replays a password login at the home: as the backend's
 * master user when the directory checked the password (Dovecot: authorize as the user,
 * authenticate as the master), else a PLAIN login's own credentials under the directory's login
 * name. Undefined when the login goes another way: an OAuth token as it came, or the protocol's
 * own password command (IMAP LOGIN, POP3 USER/PASS).
 */
export function plainReplay(replay: Replay<unknown>): Buffer | undefined {
  const { credentials, route } = replay;
  if (!('password' in credentials)) return undefined;
  const master = route.backend.master;
  if (replay.useMaster && master) return encodePlain(route.login, master.user, master.password);
  if (credentials.mechanism !== 'PLAIN') return undefined;
  const authzid = credentials.authzid === credentials.user ? '' : credentials.authzid;
  return encodePlain(authzid, route.login, credentials.password);
}
