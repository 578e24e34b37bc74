import type { Endpoint, Route } from '@homing/directory';
import { Deadline } from './deadline.js';
import { cachedHome } from './find-home.js';
import {
  type BackendConversation,
  type LoginClient,
  type LoginDialect,
  type LoginPath,
  openHome,
} from './login-path.js';

/**
 * A backend connection opened for a user before their password came (POP3's USER, answered
 * `+OK` at once whatever the name): its connect and greeting run while the client sends PASS,
 * and the login takes it if the same user's home is still that backend. Nothing about it
 * reaches the client.
 */
export class EarlyBackend<S extends BackendConversation> {
  #session: S | undefined;
  #taken = false;
  #dropped = false;

  constructor(
    readonly user: string,
    readonly backend: string,
    readonly port: number,
    readonly opened: Promise<S | undefined>,
  ) {
    opened.then((session) => {
      this.#session = session;
      if (this.#taken) return;
      // Dropped before it was ready: nobody will use it.
      if (this.#dropped) session?.socket.destroy();
    });
  }

  /**
   * The connection, for a login of `user` at `route`'s `endpoint`; undefined (and the
   * connection closed) when it is for someone or somewhere else, failed or has since closed.
   */
  async take(user: string, route: Route, endpoint: Endpoint): Promise<S | undefined> {
    if (user !== this.user || route.backend.name !== this.backend || endpoint.port !== this.port) {
      this.drop();
      return undefined;
    }
    this.#taken = true;
    const session = await this.opened;
    if (!session) return undefined;
    if (session.socket.destroyed || session.socket.readyState !== 'open') {
      session.socket.destroy();
      return undefined;
    }
    return session;
  }

  /** Closes the connection unless a login took it (a new USER, STLS, the session's end). */
  drop(): void {
    if (this.#taken || this.#dropped) return;
    this.#dropped = true;
    this.#session?.socket.destroy();
  }
}

/**
 * Opens the user's backend ahead of the login where that is free of side effects the client
 * could see or use: the directory has the user cached (no lookup is started for a name that
 * may not exist), the abuse guard answers from memory that neither the address nor the user is
 * blocked or held, the user is not being moved, and the backend is not marked down. Undefined
 * otherwise: the login then opens it itself, as always.
 */
export function openEarly<S extends BackendConversation, R, X>(
  path: LoginPath,
  dialect: LoginDialect<S, R, X>,
  connection: LoginClient,
  user: string,
): EarlyBackend<S> | undefined {
  const { guard } = connection;
  if (guard && !guard.wouldPassNow(connection.client.address, user)) return undefined;
  const { protocol } = dialect;
  if (protocol === 'submission') return undefined;
  const home = cachedHome(path, protocol, user);
  if (!home) return undefined;
  const { route, endpoint } = home;
  if (guard && guard.frozen(route.login) !== false) return undefined;
  const deadline = new Deadline(path.limits.backendConnectTimeoutMs);
  const opened = openHome(path, dialect, connection, route, endpoint, deadline).then(
    async (result) => {
      if (!result.ok) return undefined;
      const { session } = result;
      if (!dialect.forward) return session;
      deadline.restart(path.limits.backendLoginTimeoutMs);
      // The client's address goes now, so that PASS needs one round trip to the backend.
      return dialect.forward(session, connection, endpoint, deadline.signal).then(
        () => session,
        () => {
          session.socket.destroy();
          return undefined;
        },
      );
    },
    () => undefined,
  );
  opened.then(() => deadline.clear());
  return new EarlyBackend(user, route.backend.name, endpoint.port, opened);
}
