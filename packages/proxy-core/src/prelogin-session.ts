import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Route } from '@homing/directory';
import type { Logger } from 'pino';
import { clientKeepAlive } from './keepalive.js';
import type { Limits } from './limits.js';
import { type ClientConnection, ignoreErrors } from './listener.js';
import type { BackendConversation, LoginResult } from './login-path.js';
import type { SessionEntry, SessionInfo, SessionProtocol, SessionRegistry } from './sessions.js';
import { SplicedSession } from './spliced-session.js';
import type { ServerTls } from './tls.js';

/**
 * How long a session the proxy closes keeps its socket, ended, for the client to read the last
 * reply and close its side; then the socket is destroyed. A constant, not a limit: the client has
 * its answer by then, and the wait only bounds how long a finished session holds a socket.
 */
const closeLingerMs = 2000;

/** The lines a protocol says at the moments every session has. */
export interface PreloginTexts {
  readonly idle: string;
  readonly authTimeout: string;
  readonly kicked: string;
  readonly shutdown: string;
  readonly internalError: string;
}

/** How a protocol answers each outcome of the one login path. */
export interface LoginAnswers<S, R> {
  readonly failed: string;
  readonly unavailable: string;
  readonly limit: string;
  /** The backend's own refusal, passed on (POP3 `-ERR [IN-USE]`); absent: the failed line. */
  readonly refused?: (reply: R) => Buffer;
  /** What the client gets before the splice: the backend's answer and what followed it. */
  readonly welcome: (session: S, reply: R) => Buffer[] | Promise<Buffer[]>;
}

/** A login the backend accepted, ready to be spliced. */
export interface AcceptedLogin {
  readonly user: string;
  readonly backendName: string;
  readonly backend: Socket | TLSSocket;
  /** The backend's answer to the login, and whatever it sent after it, for the client. */
  readonly toClient: readonly Buffer[];
  /** Called when the spliced session ends (e.g. a per-user session slot). */
  readonly release: () => void;
}

/**
 * What IMAP, POP3 and ManageSieve sessions share before and at the splice: registry, idle and login
 * timers, one command at a time with the client paused meanwhile, STARTTLS, the splice with
 * its counts, and one log line at the end. A protocol adds its reader and its commands.
 */
export abstract class PreloginSession<Event> {
  protected closed = false;
  readonly #registry: SessionRegistry;
  readonly #started = Date.now();
  #spliced = false;
  #finished = false;
  #busy = false;
  /**
   * One timer for both deadlines, the login's and the silence's: data only notes the time, and
   * the timer, when it fires early, sets itself for what is left.
   */
  #timer: NodeJS.Timeout | undefined;
  #authDueAt = 0;
  #lastHeard = 0;
  #timerDueAt = Number.POSITIVE_INFINITY;
  /** When the first byte of a command not yet complete came: a trickle must not hold a slot. */
  #lineSince: number | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.push(chunk);
    this.#lastHeard = performance.now();
    this.#lineStarted();
    if (!this.#busy) this.#pump();
  };
  readonly #onTimer = () => {
    this.#timer = undefined;
    if (this.closed) return;
    const now = performance.now();
    const idleDueAt = this.#lastHeard + this.limits.idleTimeoutMs;
    const lineDueAt = this.#lineDueAt();
    if (now >= this.#authDueAt) this.close([this.texts.authTimeout], 'auth timeout');
    else if (now >= idleDueAt) this.close([this.texts.idle], 'idle timeout');
    else if (now >= lineDueAt) this.close([this.texts.idle], 'line timeout');
    else this.#arm(Math.min(this.#authDueAt, idleDueAt, lineDueAt) - now);
  };
  // A client that half-closes before login has nothing more to say: answer nothing more.
  readonly #onEnd = () => {
    if (!this.#spliced) this.close([], 'client closed');
  };
  readonly #onClose = () => {
    if (this.#spliced) return;
    // A login under way sees `closed` and drops its backend connection instead of splicing.
    this.closed = true;
    this.#finish('client closed', { up: 0, down: 0 });
  };

  protected abstract readonly protocol: SessionProtocol;
  protected abstract readonly texts: PreloginTexts;
  /**
   * The first line the client reads; as bytes (with its CRLF) where many sessions share it,
   * made once, so that no session builds and encodes it again.
   */
  protected abstract greeting(): string | Buffer;
  /** Bytes from the client, into the protocol's reader. */
  protected abstract push(chunk: Buffer): void;
  protected abstract next(): Event | undefined;
  /** Handles one command: a promise only while it waits (a login), undefined when done. */
  protected abstract handle(event: Event): Promise<void> | undefined;
  /** Bytes read but not yet framed: dropped at STARTTLS, handed to the backend at the splice. */
  protected abstract takeRest(): Buffer;

  constructor(
    protected readonly conn: ClientConnection,
    protected readonly limits: Limits,
    registry: SessionRegistry,
  ) {
    this.#registry = registry;
  }

  /** The session's logger, made at its first line (see ClientConnection.log). */
  protected get log(): Logger {
    return this.conn.log;
  }

  /** Closes the session at the administrator's word or at shutdown, saying which. */
  kick(reason: string): void {
    this.close([reason === 'shutdown' ? this.texts.shutdown : this.texts.kicked], reason);
  }

  start(): void {
    const { socket } = this.conn;
    // Subclass fields exist from here on, not in the constructor.
    this.#registry.put(
      new PreloginEntry(this.conn.id, this.protocol, this.conn.client.address, this.#started, this),
    );
    this.#attach(socket);
    socket.on('end', this.#onEnd);
    const now = performance.now();
    this.#lastHeard = now;
    this.#authDueAt = now + this.limits.authTimeoutMs;
    this.#arm(Math.min(this.limits.authTimeoutMs, this.limits.idleTimeoutMs));
    const greeting = this.greeting();
    if (typeof greeting === 'string') this.reply(greeting);
    else this.write(greeting);
  }

  reply(...lines: string[]): void {
    if (this.closed || lines.length === 0) return;
    this.conn.socket.write(`${lines.join('\r\n')}\r\n`);
  }

  /** Raw bytes to the client (a backend's own reply). */
  write(bytes: Buffer): void {
    if (!this.closed) this.conn.socket.write(bytes);
  }

  close(lines: string[], reason: string): void {
    if (this.closed) return;
    this.reply(...lines);
    this.closed = true;
    this.conn.socket.end();
    setTimeout(() => this.conn.socket.destroy(), closeLingerMs).unref();
    this.#finish(reason, { up: 0, down: 0 });
  }

  /**
   * STARTTLS / STLS after the protocol said yes: anything the client pipelined after the
   * command came in plaintext and is dropped (RFC 2595 §3.1, RFC 9051 §6.2.1).
   */
  protected async upgradeTls(tls: ServerTls): Promise<void> {
    this.takeRest();
    const plain = this.conn.socket as Socket;
    plain.off('data', this.#onData);
    plain.off('close', this.#onClose);
    while (plain.read() !== null);
    try {
      const secure = await tls.accept(plain, AbortSignal.timeout(this.limits.idleTimeoutMs));
      this.conn.socket = secure;
      this.conn.secure = true;
      this.#attach(secure);
    } catch (error) {
      this.log.debug({ err: error }, 'TLS handshake failed');
      this.closed = true;
      plain.destroy();
      this.#finish('tls handshake failed', { up: 0, down: 0 });
    }
  }

  /**
   * Answers what the login path decided: a reply, or the splice. A promise only when the
   * welcome is not ready at once (an IMAP backend to be asked for its capabilities).
   */
  protected answerLogin<S extends BackendConversation, R>(
    result: LoginResult<S, R>,
    answers: LoginAnswers<S, R>,
  ): Promise<void> | undefined {
    switch (result.kind) {
      case 'abandoned':
        return;
      case 'failed':
        this.reply(answers.failed);
        return;
      case 'refused':
        if (answers.refused) this.write(answers.refused(result.reply));
        else this.reply(answers.failed);
        return;
      case 'unavailable':
        this.reply(answers.unavailable);
        return;
      case 'limit':
        this.reply(answers.limit);
        return;
      case 'ok': {
        // Most welcomes are ready at once: no promise for them.
        const welcome = answers.welcome(result.session, result.reply);
        if (welcome instanceof Promise) {
          return welcome.then((toClient) => this.#spliceLogin(result, toClient));
        }
        this.#spliceLogin(result, welcome);
      }
    }
    return undefined;
  }

  #spliceLogin<S extends BackendConversation>(
    result: { readonly route: Route; readonly session: S; readonly release: () => void },
    toClient: Buffer[],
  ): void {
    this.spliceTo({
      user: result.route.login,
      backendName: result.route.backend.name,
      backend: result.session.socket,
      toClient,
      release: result.release,
    });
  }

  /**
   * From here on bytes only flow: nothing is parsed after the splice. The spliced session
   * takes this one's place in the registry and keeps nothing of it: every listener that
   * points here comes off the socket, so the reader, its buffers and the logger go.
   */
  protected spliceTo(login: AcceptedLogin): void {
    clearTimeout(this.#timer);
    const client = this.conn.socket;
    client.off('data', this.#onData);
    client.off('close', this.#onClose);
    client.off('end', this.#onEnd);
    client.off('error', ignoreErrors);
    client.pause();
    client.write(Buffer.concat(login.toClient));
    const fromClient = this.takeRest();
    if (fromClient.length > 0) login.backend.write(fromClient);

    this.#spliced = true;
    this.closed = true;
    clientKeepAlive(client, this.conn.keepAliveMs, this.limits.tcpKeepaliveMs);
    // The fields the session's logger would add, written here: no logger is made for it.
    this.conn.listenerLog.info(
      {
        sid: this.conn.id,
        client: this.conn.client.address,
        user: login.user,
        backend: login.backendName,
      },
      'logged in',
    );
    new SplicedSession(client, login.backend, {
      id: this.conn.id,
      protocol: this.protocol,
      client: this.conn.client.address,
      startedAt: this.#started,
      user: login.user,
      backend: login.backendName,
      log: this.conn.listenerLog,
      metrics: this.conn.metrics,
      registry: this.#registry,
      release: login.release,
      backendKeepAliveMs: this.limits.tcpKeepaliveMs,
    });
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
    socket.on('error', ignoreErrors);
    // A socket the listener paused (after a PROXY header) stays paused until told otherwise.
    socket.resume();
  }

  /** The session is over: what it holds for a login to come is let go (POP3's early backend). */
  protected ended(): void {}

  #finish(reason: string, bytes: { up: number; down: number }): void {
    if (this.#finished) return;
    this.#finished = true;
    this.ended();
    clearTimeout(this.#timer);
    this.#registry.remove(this.conn.id);
    // `proto` and `listener` come with the listener's logger.
    this.log.info(
      {
        bytes_up: bytes.up,
        bytes_down: bytes.down,
        duration_ms: Date.now() - this.#started,
        reason,
      },
      'session closed',
    );
  }

  #arm(ms: number): void {
    this.#timerDueAt = performance.now() + ms;
    this.#timer = setTimeout(this.#onTimer, ms);
  }

  #lineDueAt(): number {
    const ms = this.limits.lineTimeoutMs;
    return this.#lineSince === undefined || ms <= 0
      ? Number.POSITIVE_INFINITY
      : this.#lineSince + ms;
  }

  /** Bytes came: a command is under way from now, unless one already was. */
  #lineStarted(): void {
    if (this.#lineSince !== undefined) return;
    this.#lineSince = this.#lastHeard;
    const due = this.#lineDueAt();
    if (this.closed || due >= this.#timerDueAt || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#arm(due - this.#lastHeard);
  }

  /**
   * Handles the commands that have come, one at a time. While a command waits (a login may
   * take seconds) the client is not read: its pipelined bytes wait in the kernel, not in our
   * memory. A command answered at once (most before a login) pauses nothing.
   */
  #pump(): void {
    this.#busy = true;
    try {
      for (let event = this.next(); event !== undefined && !this.closed; event = this.next()) {
        this.#lineSince = undefined;
        const handled = this.handle(event);
        if (handled !== undefined) {
          this.conn.socket.pause();
          handled.then(this.#handled, this.#failedLater);
          return;
        }
      }
    } catch (error) {
      this.#failed(error);
    }
    this.#busy = false;
  }

  /** A command that waited is done: on with the next, and the client is read again. */
  readonly #handled = () => {
    this.#pump();
    if (!this.#busy && !this.closed) this.conn.socket.resume();
  };

  readonly #failedLater = (error: unknown) => {
    this.#failed(error);
    this.#busy = false;
  };

  #failed(error: unknown): void {
    this.log.error({ err: error }, 'session failed');
    this.close([this.texts.internalError], 'internal error');
  }
}

/** A session before its login, as the registry lists it: one object, no closures. */
class PreloginEntry implements SessionInfo, SessionEntry {
  readonly #startedAt: number;
  readonly #session: { kick(reason: string): void };

  constructor(
    readonly id: string,
    readonly protocol: SessionProtocol,
    readonly client: string,
    startedAt: number,
    session: { kick(reason: string): void },
  ) {
    this.#startedAt = startedAt;
    this.#session = session;
  }

  get info(): SessionInfo {
    return this;
  }

  get since(): Date {
    return new Date(this.#startedAt);
  }

  kick(reason: string): void {
    this.#session.kick(reason);
  }
}
