import type { Endpoint as BackendEndpoint, Route } from '@homing/directory';
import {
  type BackendHealth,
  type ClientConnection,
  type Limits,
  loginOnBackend,
  openBackend,
} from '@homing/proxy-core';
import { Pop3Backend } from './backend.js';
import { hasControlCharacters } from './command.js';
import type { Pop3Reply } from './reply.js';
import { encodePlain } from './sasl.js';

/** What the client presented; replayed to the backend with the same mechanism. */
export type Credentials =
  | { readonly mechanism: 'USER'; readonly user: string; readonly password: string }
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
  | { readonly kind: 'ok'; readonly backend: Pop3Backend; readonly reply: Pop3Reply }
  /** The backend refused the credentials (`-ERR [AUTH]`, or `-ERR` without a code). */
  | { readonly kind: 'rejected'; readonly reply: Pop3Reply }
  /** Any other `-ERR` (IN-USE, LOGIN-DELAY, SYS/TEMP, …): the client gets it unchanged. */
  | { readonly kind: 'refused'; readonly reply: Pop3Reply }
  /** The backend could not be used; the client should try again later. */
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface BackendLoginOptions {
  readonly connection: ClientConnection;
  readonly route: Route;
  readonly endpoint: BackendEndpoint;
  readonly credentials: Credentials;
  /** The password was checked by LDAP bind and the backend has master credentials. */
  readonly useMaster: boolean;
  readonly limits: Limits;
  readonly health: BackendHealth;
}

/** Connects to the user's home, forwards the client address, replays the login. */
export async function backendLogin(options: BackendLoginOptions): Promise<LoginOutcome> {
  const { route, endpoint, connection, limits, health } = options;
  const backend = route.backend;
  // One deadline for TCP, TLS, greeting and STLS.
  const opened = await openBackend({
    backend,
    endpoint,
    protocol: 'pop3',
    connection,
    limits,
    health,
    greet: async (socket, tls, signal) => {
      const session = new Pop3Backend(socket, limits.lineBytes);
      if (!(await session.greeting(signal))) throw new Error('backend greeting is not +OK');
      if (endpoint.tls === 'starttls' && !(await session.startTls(tls, signal))) {
        throw new Error('backend refused STLS');
      }
      return session;
    },
  });
  if (!opened.ok) return { kind: 'unavailable', reason: opened.reason };
  const session = opened.session;
  return loginOnBackend(session, backend.name, limits, async (signal): Promise<LoginOutcome> => {
    if (endpoint.forward === 'xclient') await forwardClient(session, connection, signal);
    const reply = await replay(session, options, signal);
    if (reply.status === 'ok') return { kind: 'ok', backend: session, reply };
    session.socket.destroy();
    // RFC 3206 §4: [AUTH] is a credentials problem; a bare -ERR may be one too.
    const code = reply.code?.toUpperCase();
    return code === undefined || code === 'AUTH'
      ? { kind: 'rejected', reply }
      : { kind: 'refused', reply };
  });
}

/**
 * Dovecot's XCLIENT: the backend logs and checks the real client address (it must list this
 * proxy in login_trusted_networks; it then offers XCLIENT in its greeting).
 */
async function forwardClient(
  session: Pop3Backend,
  connection: ClientConnection,
  signal: AbortSignal,
): Promise<void> {
  if (!session.xclient) {
    connection.log.warn('backend does not offer XCLIENT: it sees the proxy as the client');
    return;
  }
  const { client } = connection;
  const reply = await session.command(
    `XCLIENT ADDR=${client.address} PORT=${client.port} SESSION=${connection.id}`,
    signal,
  );
  if (reply.status !== 'ok') {
    connection.log.warn({ reply: reply.raw.toString('utf8') }, 'backend refused XCLIENT');
  }
}

function replay(
  session: Pop3Backend,
  options: BackendLoginOptions,
  signal: AbortSignal,
): Promise<Pop3Reply> {
  const { credentials, route } = options;
  const master = route.backend.master;
  if (options.useMaster && master && 'password' in credentials) {
    // Dovecot master user login: authorize as the user, authenticate as the master (RFC 4616).
    return session.authenticate(
      'PLAIN',
      encodePlain(route.login, master.user, master.password),
      signal,
    );
  }
  switch (credentials.mechanism) {
    case 'USER':
      return userPass(session, route.login, credentials.password, signal);
    case 'PLAIN': {
      const authzid = credentials.authzid === credentials.user ? '' : credentials.authzid;
      return session.authenticate(
        'PLAIN',
        encodePlain(authzid, route.login, credentials.password),
        signal,
      );
    }
    default:
      // The token names the user as the client wrote it; the backend checks both. An error
      // challenge gets the dummy answer RFC 7628 §3.2.3 asks for, then -ERR follows.
      return session.authenticate(credentials.mechanism, credentials.response, signal, () =>
        credentials.mechanism === 'OAUTHBEARER' ? 'AQ==' : '',
      );
  }
}

/** RFC 1939 §7: USER, then PASS. The login comes from the directory, the password from the client. */
async function userPass(
  session: Pop3Backend,
  login: string,
  password: string,
  signal: AbortSignal,
): Promise<Pop3Reply> {
  if (hasControlCharacters(login)) {
    throw new Error('the login from the directory has control characters');
  }
  const user = await session.command(`USER ${login}`, signal);
  if (user.status !== 'ok') return user;
  return session.command(`PASS ${password}`, signal);
}
