import type { Directory, Route } from '@homing/directory';
import {
  type BackendHealth,
  type ClientConnection,
  findHome,
  type Limits,
} from '@homing/proxy-core';
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
  const home = await findHome({
    directory,
    health: options.health,
    limits,
    isOwnAddress: options.isOwnAddress,
    protocol: 'pop3',
    user: credentials.user,
    password: 'password' in credentials ? credentials.password : undefined,
    log,
  });
  if (home.kind !== 'ok') return home;
  const { route, endpoint, useMaster } = home;
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
