import type { Directory, Route } from '@homing/directory';
import {
  type BackendHealth,
  type ClientConnection,
  Deadline,
  findHome,
  type Limits,
} from '@homing/proxy-core';
import type { BackendSession, TaggedResponse } from './backend-session.js';
import { backendLogin, type Credentials } from './login.js';

export interface AuthenticateOptions {
  readonly connection: ClientConnection;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
  /** The client's own ID fields (already sanitized), forwarded with ours. */
  readonly clientId: readonly [string, string][];
  /** Whether the client has gone; the backend login is the one step slow enough to outlive it. */
  readonly closed: () => boolean;
}

export type AuthResult =
  /** Logged in at the user's home: answer with `loginReply`, then splice. */
  | {
      readonly kind: 'ok';
      readonly route: Route;
      readonly backend: BackendSession;
      readonly response: TaggedResponse;
    }
  /** Unknown user or wrong credentials: the one failure reply, after the failed-login delay. */
  | { readonly kind: 'failed' }
  /** Directory or backend unusable: a fast temporary failure. */
  | { readonly kind: 'unavailable' }
  /** The client left while the backend login was under way: nobody to answer. */
  | { readonly kind: 'abandoned' };

/** Finds the user's home, checks what can be checked here, and logs in there. */
export async function authenticate(
  options: AuthenticateOptions,
  credentials: Credentials,
): Promise<AuthResult> {
  const { directory, limits, connection, health } = options;
  const log = connection.log.child({ user: credentials.user, mech: credentials.mechanism });
  const failed = (why: string): AuthResult => {
    log.info(`login failed: ${why}`);
    return { kind: 'failed' };
  };
  const home = await findHome({
    directory,
    health: options.health,
    limits,
    isOwnAddress: options.isOwnAddress,
    protocol: 'imap',
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
    clientId: options.clientId,
    limits,
    health,
  });
  if (options.closed()) {
    if (outcome.kind === 'ok') outcome.backend.socket.destroy();
    return { kind: 'abandoned' };
  }
  switch (outcome.kind) {
    case 'ok':
      return { kind: 'ok', route, backend: outcome.backend, response: outcome.response };
    case 'unavailable':
      log.warn({ backend: route.backend.name, reason: outcome.reason }, 'backend unavailable');
      return { kind: 'unavailable' };
    case 'rejected':
      return failed(`rejected by the backend ${route.backend.name}`);
  }
}

/**
 * What the client gets before the splice: the backend's untagged lines, the tagged OK with the
 * post-login capabilities, then whatever the backend sent past it.
 */
export async function loginReply(
  tag: string,
  result: Extract<AuthResult, { kind: 'ok' }>,
  limits: Limits,
): Promise<Buffer[]> {
  const { backend, response } = result;
  let code = response.code;
  if (!code || !/^CAPABILITY /i.test(code)) {
    // RFC 9051 §6.2.3: clients want the post-login capabilities; ask for them.
    const caps = await Deadline.run(limits.backendLoginTimeoutMs, (signal) =>
      backend.command('CAPABILITY', [], signal),
    ).catch(() => undefined);
    const line = caps?.untagged
      .map((b) => b.toString('utf8'))
      .find((l) => /^\* CAPABILITY /i.test(l));
    if (line) code = line.trim().slice(2);
  }
  const reply = `${tag} OK${code ? ` [${code}]` : ''} ${response.text || 'Logged in'}\r\n`;
  return [...response.untagged, Buffer.from(reply), backend.detach()];
}
