import type { Endpoint as BackendEndpoint, Route } from '@homing/directory';
import {
  type BackendHealth,
  type ClientConnection,
  type Limits,
  loginOnBackend,
  openBackend,
} from '@homing/proxy-core';
import { BackendSession, type TaggedResponse } from './backend-session.js';
import { astringFor } from './quote.js';
import { encodePlain } from './sasl.js';

/** What the client presented; replayed to the backend with the same mechanism. */
export type Credentials =
  | { readonly mechanism: 'LOGIN'; readonly user: string; readonly password: string }
  | {
      readonly mechanism: 'PLAIN';
      readonly authzid: string;
      readonly user: string;
      readonly password: string;
    }
  | {
      readonly mechanism: 'XOAUTH2' | 'OAUTHBEARER';
      readonly user: string;
      readonly response: Buffer;
    };

export type LoginOutcome =
  | { readonly kind: 'ok'; readonly backend: BackendSession; readonly response: TaggedResponse }
  /** The backend refused the credentials. */
  | { readonly kind: 'rejected'; readonly response: TaggedResponse | undefined }
  /** The backend could not be used; the client should try again later. */
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface BackendLoginOptions {
  readonly connection: ClientConnection;
  readonly route: Route;
  readonly endpoint: BackendEndpoint;
  readonly credentials: Credentials;
  /** The password was checked by LDAP bind and the backend has master credentials. */
  readonly useMaster: boolean;
  /** The client's own ID fields (already sanitized), forwarded with ours. */
  readonly clientId: readonly [string, string][];
  readonly limits: Limits;
  readonly health: BackendHealth;
}

/** Connects to the user's home, forwards the client address, replays the login. */
export async function backendLogin(options: BackendLoginOptions): Promise<LoginOutcome> {
  const { route, endpoint, connection, limits, health } = options;
  const backend = route.backend;
  const opened = await openBackend({
    backend,
    endpoint,
    protocol: 'imap',
    connection,
    limits,
    health,
    greet: async (socket, tls, signal) => {
      const session = new BackendSession(socket, limits.lineBytes);
      if (!(await session.greeting(signal))) throw new Error('backend greeting is not OK');
      if (endpoint.tls === 'starttls' && !(await session.startTls(tls, signal))) {
        throw new Error('backend refused STARTTLS');
      }
      return session;
    },
  });
  if (!opened.ok) return { kind: 'unavailable', reason: opened.reason };
  const session = opened.session;
  return loginOnBackend(session, backend.name, limits, async (signal): Promise<LoginOutcome> => {
    // ID goes ahead of the login in the same write: one round trip less per login.
    if (endpoint.forward === 'id') session.sendAhead('ID', [idList(options)]);
    const response = await replay(session, options, signal);
    if (response.status === 'OK') return { kind: 'ok', backend: session, response };
    session.socket.destroy();
    // [UNAVAILABLE], [SERVERBUG] and the like are the backend's trouble, not the user's.
    const temporary =
      response.status === 'BAD' ||
      /^(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\b/i.test(response.code ?? '');
    return temporary
      ? {
          kind: 'unavailable',
          reason: `backend ${backend.name} said ${response.status} [${response.code ?? ''}] ${response.text}`,
        }
      : { kind: 'rejected', response };
  });
}

function replay(
  session: BackendSession,
  options: BackendLoginOptions,
  signal: AbortSignal,
): Promise<TaggedResponse> {
  const { credentials, route } = options;
  const master = route.backend.master;
  if (
    options.useMaster &&
    master &&
    credentials.mechanism !== 'XOAUTH2' &&
    credentials.mechanism !== 'OAUTHBEARER'
  ) {
    // Dovecot master user login: authorize as the user, authenticate as the master (RFC 4616).
    return session.command(
      'AUTHENTICATE',
      ['PLAIN', encodePlain(route.login, master.user, master.password)],
      signal,
    );
  }
  switch (credentials.mechanism) {
    case 'LOGIN':
      return session.command(
        'LOGIN',
        [astringFor(route.login), astringFor(credentials.password)],
        signal,
      );
    case 'PLAIN': {
      const authzid = credentials.authzid === credentials.user ? '' : credentials.authzid;
      return session.command(
        'AUTHENTICATE',
        ['PLAIN', encodePlain(authzid, route.login, credentials.password)],
        signal,
      );
    }
    default:
      // The token names the user as the client wrote it; the backend checks both.
      return session.command(
        'AUTHENTICATE',
        [credentials.mechanism, credentials.response.toString('base64')],
        signal,
        () => Buffer.alloc(0), // an error challenge is answered empty, then NO follows (RFC 7628 §3.2.3)
      );
  }
}

/** The IMAP ID list (RFC 2971) with the client address for a backend that trusts us. */
function idList({ connection, clientId }: BackendLoginOptions): string {
  const fields: [string, string][] = [
    ...clientId,
    ['x-originating-ip', connection.client.address],
    ['x-originating-port', String(connection.client.port)],
    ['x-connected-ip', connection.local.address],
    ['x-connected-port', String(connection.local.port)],
    ['x-session-id', connection.id],
  ];
  const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  return `(${fields.map(([k, v]) => `${quote(k)} ${quote(v)}`).join(' ')})`;
}
