import {
  type ClientConnection,
  type Credentials,
  failedLogin,
  login,
  PreloginSession,
  type ProtocolListenerOptions,
  type SaslMechanism,
} from '@homing/proxy-core';
import { preauthCapabilities } from './capabilities.js';
import { parseCommand } from './command.js';
import { commandSpec, saslResponse } from './commands.js';
import { pop3Dialect } from './login.js';
import { CommandReader, type ReadEvent } from './reader.js';

/** A session needs what its listener was started with, less the listener's own parts. */
export type Pop3SessionOptions = Omit<ProtocolListenerOptions, 'spec' | 'log'>;

// RFC 3206: [AUTH] for bad credentials, [SYS/TEMP] for trouble that passes.
const AUTH_FAILED = '-ERR [AUTH] Authentication failed.';
const UNAVAILABLE = '-ERR [SYS/TEMP] Temporary failure, try again later.';
const CRLF = Buffer.from('\r\n');

/** The login path's outcomes as this protocol says them; the backend's own words pass through. */
const answers = {
  failed: AUTH_FAILED,
  unavailable: UNAVAILABLE,
  limit: '-ERR [IN-USE] Too many sessions for this user.',
  refused: (reply: { readonly raw: Buffer }) => Buffer.concat([reply.raw, CRLF]),
  welcome: (session: { detach(): Buffer }, reply: { readonly raw: Buffer }) => [
    reply.raw,
    CRLF,
    session.detach(),
  ],
};
const texts = {
  idle: '-ERR Disconnected for inactivity.',
  authTimeout: '-ERR Disconnected: authentication took too long.',
  kicked: '-ERR [SYS/TEMP] Disconnected by the administrator.',
  shutdown: '-ERR [SYS/TEMP] Server shutting down, please reconnect.',
  internalError: '-ERR [SYS/TEMP] Internal error.',
};

const PLAINTEXT_DISALLOWED =
  '-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.';

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class Pop3Session extends PreloginSession<ReadEvent> {
  protected readonly protocol = 'pop3';
  protected readonly texts = texts;
  readonly #options: Pop3SessionOptions;

  protected greeting(): string {
    return '+OK homing POP3 ready.';
  }

  readonly #reader: CommandReader;
  #commands = 0;
  #awaitingSasl: SaslMechanism | undefined;
  /** The name from USER, waiting for PASS (RFC 1939 §7). */
  pendingUser: string | undefined;

  constructor(connection: ClientConnection, options: Pop3SessionOptions) {
    super(connection, options.limits, options.registry);
    this.#options = options;
    this.#reader = new CommandReader(options.limits.lineBytes);
  }

  protected push(chunk: Buffer): void {
    this.#reader.push(chunk);
  }

  protected next(): ReadEvent | undefined {
    return this.#reader.next();
  }

  protected takeRest(): Buffer {
    return this.#reader.takeRest();
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

  /** AUTH without an initial response: an empty challenge (RFC 5034 §4); the next line answers. */
  awaitSaslResponse(mechanism: SaslMechanism): void {
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
    // RFC 2595 §4: forget what the client said before TLS.
    this.pendingUser = undefined;
    await this.upgradeTls(tls);
  }

  /** Answers a failed login once the failed-login delay has passed since `startedAt`. */
  async failLogin(startedAt: number): Promise<void> {
    await failedLogin(this.conn, 'pop3', this.limits, startedAt);
    this.reply(AUTH_FAILED);
  }

  async login(credentials: Credentials): Promise<void> {
    const result = await login(
      this.#options,
      pop3Dialect,
      this.conn,
      credentials,
      undefined,
      () => this.closed,
    );
    await this.answerLogin(result, answers);
  }

  #canStartTls(): boolean {
    return (
      this.conn.listener.tls === 'starttls' && this.#options.tls !== undefined && !this.conn.secure
    );
  }

  #loginAllowed(): boolean {
    return this.conn.secure || this.#options.allowPlaintext;
  }

  protected async handle(event: ReadEvent): Promise<void> {
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
    if (this.#commands > this.limits.commands) {
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
