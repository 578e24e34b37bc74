import {
  answerSaslResponse,
  type ClientConnection,
  type Credentials,
  type EarlyBackend,
  failedLogin,
  type LoginResult,
  login,
  openEarly,
  PreloginSession,
  type ProtocolListenerOptions,
  preloginTexts,
  relayedAnswers,
  type SaslAnswers,
  type SaslMechanism,
} from '@homing/proxy-core';
import type { Pop3Backend } from './backend.js';
import { preauthCapabilities } from './capabilities.js';
import { parseCommand } from './command.js';
import { commandSpec } from './commands.js';
import { pop3Dialect } from './login.js';
import { Pop3Reader, type ReadEvent } from './reader.js';
import { invalidCommand, type Pop3OwnReply, pop3Replies as r, saslErrors } from './replies.js';
import type { Pop3Reply } from './reply.js';

/** A session needs what its listener was started with, less the listener's own parts. */
export type Pop3SessionOptions = Omit<ProtocolListenerOptions, 'spec' | 'log'>;

/** The login path's outcomes as this protocol says them; the backend's own words pass through. */
const answers = relayedAnswers(r);
const texts = preloginTexts(r);
/** The same for every session: made once. */
const greetingBytes = Buffer.from(`${r.greeting.line}\r\n`);

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class Pop3Session extends PreloginSession<ReadEvent> implements SaslAnswers<Pop3OwnReply> {
  protected readonly protocol = 'pop3';
  protected readonly texts = texts;
  readonly refusals = saslErrors;
  readonly #options: Pop3SessionOptions;

  protected greeting(): Buffer {
    return greetingBytes;
  }

  readonly #reader: Pop3Reader;
  #commands = 0;
  #awaitingSasl: SaslMechanism | undefined;
  /** The name from USER, waiting for PASS (RFC 1939 §7). */
  pendingUser: string | undefined;
  /** The backend of the name from USER, opened while PASS is on its way. */
  #early: EarlyBackend<Pop3Backend> | undefined;

  constructor(connection: ClientConnection, options: Pop3SessionOptions) {
    super(connection, options.limits, options.registry);
    this.#options = options;
    this.#reader = new Pop3Reader(options.limits.lineBytes);
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

  /** USER was answered: the user's backend is opened while the client sends PASS. */
  userGiven(name: string): void {
    this.#early?.drop();
    this.#early = openEarly(this.#options, pop3Dialect, this.conn, name);
  }

  protected override ended(): void {
    this.#early?.drop();
  }

  async startTls(): Promise<void> {
    const tls = this.#options.tls;
    if (!tls || !this.#canStartTls()) {
      this.reply(r.noStls.line);
      return;
    }
    this.reply(r.beginTls.line);
    // RFC 2595 §4: forget what the client said before TLS.
    this.pendingUser = undefined;
    this.#early?.drop();
    this.#early = undefined;
    await this.upgradeTls(tls);
  }

  refuse(reply: Pop3OwnReply): void {
    this.reply(reply.line);
  }

  /** A SASL response that names no user: failed like a wrong password, after the same delay. */
  async failLogin(): Promise<void> {
    await failedLogin(this.conn, 'pop3', this.limits, performance.now());
    this.reply(r.authFailed.line);
  }

  async login(credentials: Credentials): Promise<void> {
    const held = this.#early;
    this.#early = undefined;
    let result: LoginResult<Pop3Backend, Pop3Reply>;
    try {
      result = await login(
        this.#options,
        pop3Dialect,
        this.conn,
        credentials,
        undefined,
        () => this.closed,
        // Only a login by USER and PASS is for the name USER gave.
        credentials.mechanism === 'USER' ? held : undefined,
      );
    } finally {
      held?.drop(); // a no-op once the login took it
    }
    return this.answerLogin(result, answers);
  }

  #canStartTls(): boolean {
    return (
      this.conn.listener.tls === 'starttls' && this.#options.tls !== undefined && !this.conn.secure
    );
  }

  #loginAllowed(): boolean {
    return this.conn.secure || this.#options.allowPlaintext;
  }

  protected handle(event: ReadEvent): Promise<void> | undefined {
    if (event.type === 'too-long') {
      this.close([r.lineTooLong.line], 'line too long');
      return undefined;
    }
    const sasl = this.#awaitingSasl;
    if (sasl) {
      this.#awaitingSasl = undefined;
      return answerSaslResponse(sasl, event.line.toString('latin1'), this);
    }
    this.#commands += 1;
    if (this.#commands > this.limits.commands) {
      this.close([r.tooManyCommands.line], 'too many commands');
      return undefined;
    }
    const command = parseCommand(event.line);
    // RFC 1939 §7: PASS is valid only immediately after USER.
    if (command.kind === 'invalid' || command.verb !== 'PASS') this.pendingUser = undefined;
    if (command.kind === 'invalid') {
      this.reply(invalidCommand(command.reason).line);
      return undefined;
    }
    const spec = commandSpec(command.verb);
    if (!spec) {
      this.reply(r.unknownCommand.line);
      return undefined;
    }
    if (spec.credentials && !this.#loginAllowed()) {
      this.reply(r.plaintextDisallowed.line);
      return undefined;
    }
    // A command answered at once (USER, CAPA) needs no promise.
    const handled = spec.handle(this, command.argument);
    return handled instanceof Promise ? handled : undefined;
  }
}
