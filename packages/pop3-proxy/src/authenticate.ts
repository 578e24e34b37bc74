import { type Directory, DirectoryError, type Route } from '@homing/directory';
import type { BackendHealth, ClientConnection, Limits } from '@homing/proxy-core';
import type { Pop3Backend } from './backend.js';
import { backendLogin, type Credentials } from './login.js';
import type { Pop3Reply } from './reply.js';

export interface AuthenticateOptions {
  readonly connection: ClientConnection;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
}

export type AuthResult =
  /** Logged in at the user's home: relay `reply`, then splice. */
  | {
      readonly kind: 'ok';
      readonly route: Route;
      readonly backend: Pop3Backend;
      readonly reply: Pop3Reply;
    }
  /** Unknown user or wrong credentials: the one failure reply, after the failed-login delay. */
  | { readonly kind: 'failed' }
  /** Directory or backend unusable: a fast temporary failure. */
  | { readonly kind: 'unavailable' }
  /** The backend said -ERR with a code of its own (IN-USE, LOGIN-DELAY, …): relay it as is. */
  | { readonly kind: 'refused'; readonly reply: Pop3Reply };

/** Finds the user's home, checks what can be checked here, and logs in there. */
export async function authenticate(
  options: AuthenticateOptions,
  credentials: Credentials,
): Promise<AuthResult> {
  const { directory, limits, connection } = options;
  const log = connection.log.child({ user: credentials.user, mech: credentials.mechanism });
  let route: Route | undefined;
  try {
    const result = await directory.lookup(credentials.user, {
      signal: AbortSignal.timeout(limits.backendConnectTimeoutMs),
      isHealthy: (name) => !options.health.isDown(`${name}/pop3`),
    });
    route = result.route;
    if (result.stale) log.warn('directory failing: using a stale route');
  } catch (error) {
    log.warn(
      { err: error instanceof DirectoryError ? error.message : error },
      'directory unavailable',
    );
    return { kind: 'unavailable' };
  }
  if (!route) {
    log.info('login failed: no such user');
    return { kind: 'failed' };
  }
  const endpoint = route.backend.endpoints.pop3;
  if (!endpoint) {
    log.error({ backend: route.backend.name }, 'the home backend has no pop3 service configured');
    return { kind: 'unavailable' };
  }
  if (options.isOwnAddress(route.backend.host, endpoint.port)) {
    log.error({ backend: route.backend.name }, 'route loop: the home backend is this proxy');
    return { kind: 'unavailable' };
  }
  let useMaster = false;
  if (route.backend.master && directory.canVerifyPasswords && 'password' in credentials) {
    try {
      if (!(await directory.verifyPassword(route, credentials.password))) {
        log.info('login failed: wrong password (directory bind)');
        return { kind: 'failed' };
      }
      useMaster = true;
    } catch (error) {
      log.warn(
        { err: error instanceof Error ? error.message : error },
        'password check unavailable',
      );
      return { kind: 'unavailable' };
    }
  }
  const outcome = await backendLogin({
    connection,
    route,
    endpoint,
    credentials,
    useMaster,
    limits,
    health: options.health,
  });
  const backend = route.backend.name;
  switch (outcome.kind) {
    case 'ok':
      return { kind: 'ok', route, backend: outcome.backend, reply: outcome.reply };
    case 'unavailable':
      log.warn({ backend, reason: outcome.reason }, 'backend unavailable');
      return { kind: 'unavailable' };
    case 'rejected':
      log.info({ backend, reply: outcome.reply.text }, 'login failed: rejected by the backend');
      return { kind: 'failed' };
    case 'refused':
      log.info(
        { backend, reply: outcome.reply.raw.toString('utf8') },
        'login refused by the backend',
      );
      return { kind: 'refused', reply: outcome.reply };
  }
}
