import type { Socket } from 'node:net';
import type { Directory } from '@homing/directory';
import {
  atLeast,
  type BackendHealth,
  type ClientConnection,
  gateLogin,
  type Limits,
  type ServerTls,
  type SessionInfo,
  type SessionRegistry,
  splice,
} from '@homing/proxy-core';
import { type AuthResult, authenticate } from './authenticate.js';
import { preauthCapabilities } from './capabilities.js';
import { parseCommand } from './command.js';
import { commandSpec, type Mechanism, saslResponse } from './commands.js';
import type { Credentials } from './login.js';
import { CommandReader, type ReadEvent } from './reader.js';

export interface Pop3SessionOptions {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly registry: SessionRegistry;
  /** Certificates for STLS; absent: STLS is not offered. */
  readonly tls: ServerTls | undefined;
  readonly allowPlaintext: boolean;
  readonly oauth: boolean;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
}

// RFC 3206: [AUTH] for bad credentials, [SYS/TEMP] for trouble that passes.
const AUTH_FAILED = '-ERR [AUTH] Authentication failed.';
const UNAVAILABLE = '-ERR [SYS/TEMP] Temporary failure, try again later.';
const PLAINTEXT_DISALLOWED =
  '-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.';

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class Pop3Session {
  readonly #conn: ClientConnection;
  readonly #options: Pop3SessionOptions;
  readonly #reader: CommandReader;
  readonly #started = Date.now();
  readonly #info: SessionInfo;
  #unregister: () => void = () => {};
  #busy = false;
  #spliced = false;
  #closed = false;
  #finished = false;
  #commands = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  #awaitingSasl: Mechanism | undefined;
  #kick: (reason: string) => void;
  /** The name from USER, waiting for PASS (RFC 1939 §7). */
  pendingUser: string | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#reader.push(chunk);
    this.#touch();
    void this.#pump();
  };
  readonly #onClose = () => {
    if (this.#spliced) return;
    // A login still under way sees this and drops its backend connection.
    this.#closed = true;
    this.#finish('client closed', { up: 0, down: 0 });
  };

  constructor(connection: ClientConnection, options: Pop3SessionOptions) {
    this.#conn = connection;
    this.#options = options;
    this.#reader = new CommandReader(options.limits.lineBytes);
    this.#info = {
      id: connection.id,
      protocol: 'pop3',
      client: connection.client.address,
      since: new Date(),
    };
    this.#kick = (reason) =>
      this.close(
        [
          reason === 'shutdown'
            ? '-ERR [SYS/TEMP] Server shutting down, please reconnect.'
            : '-ERR [SYS/TEMP] Disconnected by the administrator.',
        ],
        reason,
      );
  }

  start(): void {
    const { socket } = this.#conn;
    this.#unregister = this.#options.registry.add(this.#info, (reason) => this.#kick(reason));
    socket.on('data', this.#onData);
    // A client that half-closes before login has nothing more to say: answer nothing more.
    socket.on('end', () => {
      if (!this.#spliced) this.close([], 'client closed');
    });
    socket.on('close', this.#onClose);
    socket.on('error', () => {});
    // A socket the listener paused (after a PROXY header) stays paused until told otherwise.
    socket.resume();
    this.#authTimer = setTimeout(
      () => this.close(['-ERR Disconnected: authentication took too long.'], 'auth timeout'),
      this.#options.limits.authTimeoutMs,
    );
    this.#touch();
    this.reply('+OK homing POP3 ready.');
  }

  get oauth(): boolean {
    return this.#options.oauth;
  }

  capabilities(): string[] {
    return preauthCapabilities({
      canStartTls: this.#canStartTls(),
      loginAllowed: this.#loginAllowed(),
      oauth: this.#options.oauth,
    });
  }

  reply(...lines: string[]): void {
    if (this.#closed || lines.length === 0) return;
    this.#conn.socket.write(`${lines.join('\r\n')}\r\n`);
  }

  close(lines: string[], reason: string): void {
    if (this.#closed) return;
    this.reply(...lines);
    this.#closed = true;
    this.#conn.socket.end();
    setTimeout(() => this.#conn.socket.destroy(), 2000).unref();
    this.#finish(reason, { up: 0, down: 0 });
  }

  /** AUTH without an initial response: an empty challenge (RFC 5034 §4); the next line answers. */
  awaitSaslResponse(mechanism: Mechanism): void {
    this.#awaitingSasl = mechanism;
    this.reply('+ ');
  }

  async startTls(): Promise<void> {
    const tls = this.#options.tls;
    if (!tls || !this.#canStartTls()) {
      this.reply('-ERR STLS not available.');
      return;
    }
    this.reply('+OK Begin TLS negotiation.');
    // RFC 2595 §4: forget what the client said before TLS. Whatever it pipelined after STLS
    // was sent in plaintext and is dropped: the framed rest and what the stream holds unread.
    this.pendingUser = undefined;
    this.#reader.takeRest();
    const plain = this.#conn.socket as Socket;
    plain.off('data', this.#onData);
    while (plain.read() !== null);
    try {
      const secure = await tls.accept(
        plain,
        AbortSignal.timeout(this.#options.limits.idleTimeoutMs),
      );
      this.#conn.socket = secure;
      this.#conn.secure = true;
      secure.on('data', this.#onData);
      secure.on('close', this.#onClose);
      secure.on('error', () => {});
    } catch (error) {
      this.#conn.log.debug({ err: error }, 'STLS handshake failed');
      this.#closed = true;
      plain.destroy();
      this.#finish('tls handshake failed', { up: 0, down: 0 });
    }
  }

  /** Answers a failed login once the failed-login delay has passed since `startedAt`. */
  async failLogin(startedAt: number): Promise<void> {
    this.#conn.metrics.login('pop3', 'failed');
    await atLeast(startedAt, this.#options.limits.failedLoginDelayMs);
    this.reply(AUTH_FAILED);
  }

  async login(credentials: Credentials): Promise<void> {
    const { guard } = this.#conn;
    const address = this.#conn.client.address;
    if (await gateLogin(guard, address, credentials.user)) {
      this.#conn.log.info({ user: credentials.user }, 'login refused: address or user blocked');
      return this.failLogin(performance.now());
    }
    const startedAt = performance.now();
    const result = await authenticate({ ...this.#options, connection: this.#conn }, credentials);
    if (this.#closed) {
      if (result.kind === 'ok') result.backend.socket.destroy();
      return;
    }
    switch (result.kind) {
      case 'ok': {
        void guard?.loginSucceeded(address, result.route.login);
        const slot = guard ? await guard.userSession(result.route.login) : undefined;
        if (slot && !slot.ok) {
          result.backend.socket.destroy();
          this.reply('-ERR [IN-USE] Too many sessions for this user.');
          return;
        }
        return this.#splice(result, slot?.release);
      }
      case 'failed':
        void guard?.loginFailed(address, credentials.user);
        return this.failLogin(startedAt);
      case 'unavailable':
        this.#conn.metrics.login('pop3', 'unavailable');
        this.reply(UNAVAILABLE);
        return;
      case 'refused':
        this.#write(Buffer.concat([result.reply.raw, Buffer.from('\r\n')]));
        return;
    }
  }

  #canStartTls(): boolean {
    return (
      this.#conn.listener.tls === 'starttls' &&
      this.#options.tls !== undefined &&
      !this.#conn.secure
    );
  }

  #loginAllowed(): boolean {
    return this.#conn.secure || this.#options.allowPlaintext;
  }

  #write(bytes: Buffer): void {
    if (!this.#closed) this.#conn.socket.write(bytes);
  }

  #splice(result: Extract<AuthResult, { kind: 'ok' }>, release: () => void = () => {}): void {
    const { route, backend, reply } = result;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#idleTimer);
    const client = this.#conn.socket;
    client.off('data', this.#onData);
    client.pause();
    // The backend's own +OK, then whatever either side sent past the login.
    client.write(Buffer.concat([reply.raw, Buffer.from('\r\n')]));
    const fromBackend = backend.detach();
    if (fromBackend.length > 0) client.write(fromBackend);
    const fromClient = this.#reader.takeRest();
    if (fromClient.length > 0) backend.socket.write(fromClient);

    this.#info.user = route.login;
    this.#info.backend = route.backend.name;
    this.#spliced = true;
    this.#closed = true;
    const piped = splice(client, backend.socket);
    this.#info.counts = piped.counts;
    this.#kick = (reason) => piped.destroy(reason);
    const log = this.#conn.log.child({ user: route.login, backend: route.backend.name });
    log.info('logged in');
    this.#conn.metrics.login('pop3', 'ok');
    void piped.done.then((bytes) => {
      release();
      this.#conn.metrics.spliced('pop3', bytes.up, bytes.down);
      this.#finish(bytes.reason, bytes, log);
    });
  }

  #finish(reason: string, bytes: { up: number; down: number }, log = this.#conn.log): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#idleTimer);
    this.#unregister();
    // `proto` and `listener` come with the listener's logger.
    log.info(
      {
        bytes_up: bytes.up,
        bytes_down: bytes.down,
        duration_ms: Date.now() - this.#started,
        reason,
      },
      'session closed',
    );
  }

  #touch(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    this.#idleTimer = setTimeout(
      () => this.close(['-ERR Disconnected for inactivity.'], 'idle timeout'),
      this.#options.limits.idleTimeoutMs,
    );
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    // While a command is handled (a login may take seconds) the client is not read: its
    // pipelined bytes wait in the kernel, not in our memory.
    this.#conn.socket.pause();
    try {
      for (let event = this.#reader.next(); event && !this.#closed; event = this.#reader.next()) {
        await this.#handle(event);
      }
    } catch (error) {
      this.#conn.log.error({ err: error }, 'session failed');
      this.close(['-ERR [SYS/TEMP] Internal error.'], 'internal error');
    } finally {
      this.#busy = false;
      if (!this.#closed) this.#conn.socket.resume();
    }
  }

  async #handle(event: ReadEvent): Promise<void> {
    if (event.type === 'too-long') {
      this.close(['-ERR Line too long.'], 'line too long');
      return;
    }
    const sasl = this.#awaitingSasl;
    if (sasl) {
      this.#awaitingSasl = undefined;
      await saslResponse(this, sasl, event.line.toString('latin1'));
      return;
    }
    this.#commands += 1;
    if (this.#commands > this.#options.limits.commands) {
      this.close(['-ERR Too many commands before login.'], 'too many commands');
      return;
    }
    const command = parseCommand(event.line);
    // RFC 1939 §7: PASS is valid only immediately after USER.
    if (command.kind === 'invalid' || command.verb !== 'PASS') this.pendingUser = undefined;
    if (command.kind === 'invalid') {
      this.reply(`-ERR Invalid command: ${command.reason}.`);
      return;
    }
    const spec = commandSpec(command.verb);
    if (!spec) {
      this.reply('-ERR Unknown command, or not valid before login.');
      return;
    }
    if (spec.credentials && !this.#loginAllowed()) {
      this.reply(PLAINTEXT_DISALLOWED);
      return;
    }
    await spec.handle(this, command.argument);
  }
}
