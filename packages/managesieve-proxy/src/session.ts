import {
  answerSaslResponse,
  type ClientConnection,
  type Credentials,
  failedLogin,
  login,
  PreloginSession,
  type ProtocolListenerOptions,
  preloginTexts,
  relayedAnswers,
  type SaslAnswers,
  type SaslMechanism,
} from '@homing/proxy-core';
import { type BackendExtensions, preauthCapabilities } from './capabilities.js';
import { type ParsedCommand, parseCommand, parseSaslAnswer } from './command.js';
import { commandSpec } from './commands.js';
import { sieveDialect } from './login.js';
import { type ReadEvent, SieveReader } from './reader.js';
import {
  fatal,
  invalidCommand,
  sieveReplies as r,
  type SieveReply,
  saslErrors,
} from './replies.js';

/** A session needs what its listener was started with, less the listener's own parts. */
export type SieveSessionOptions = Omit<ProtocolListenerOptions, 'spec' | 'log'>;

/** The login path's outcomes as this protocol says them; the backend's own words pass through. */
const answers = relayedAnswers(r);
const texts = preloginTexts(r);

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class SieveSession extends PreloginSession<ReadEvent> implements SaslAnswers<SieveReply> {
  protected readonly protocol = 'managesieve';
  protected readonly texts = texts;
  readonly refusals = saslErrors;
  readonly #options: SieveSessionOptions;
  readonly #reader: SieveReader;
  #commands = 0;
  #awaitingSasl: SaslMechanism | undefined;

  constructor(
    connection: ClientConnection,
    options: SieveSessionOptions,
    readonly extensions: BackendExtensions,
  ) {
    super(connection, options.limits, options.registry);
    this.#options = options;
    this.#reader = new SieveReader(options.limits);
  }

  /** RFC 5804 §1.7: the greeting is the capability list, then OK. */
  protected greeting(): string {
    return [...this.capabilities(), r.greeting.line].join('\r\n');
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
      extensions: this.extensions,
    });
  }

  /** AUTHENTICATE without an initial response: an empty challenge (RFC 5804 §2.1). */
  awaitSaslResponse(mechanism: SaslMechanism): void {
    this.#awaitingSasl = mechanism;
    this.reply('""');
  }

  async startTls(): Promise<void> {
    const tls = this.#options.tls;
    if (!tls || !this.#canStartTls()) {
      this.reply(r.noStartTls.line);
      return;
    }
    this.reply(r.beginTls.line);
    await this.upgradeTls(tls);
    // RFC 5804 §2.2: after the handshake the server sends its capabilities again, unasked.
    if (this.conn.secure) this.reply(...this.capabilities(), r.tlsDone.line);
  }

  refuse(reply: SieveReply): void {
    this.reply(reply.line);
  }

  /** A SASL response that names no user: failed like a wrong password, after the same delay. */
  async failLogin(): Promise<void> {
    await failedLogin(this.conn, 'managesieve', this.limits, performance.now());
    this.reply(r.authFailed.line);
  }

  async login(credentials: Credentials): Promise<void> {
    const dialect = sieveDialect(this.extensions);
    const result = await login(
      this.#options,
      dialect,
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
    if (event.type === 'fatal') {
      this.close([fatal(event.reason).line], event.reason);
      return;
    }
    this.#commands += 1;
    if (this.#commands > this.limits.commands) {
      this.close([r.tooManyCommands.line], 'too many commands');
      return;
    }
    const sasl = this.#awaitingSasl;
    if (sasl) {
      this.#awaitingSasl = undefined;
      const answer = event.type === 'command' ? parseSaslAnswer(event.tokens) : undefined;
      if (answer === undefined) this.reply(r.saslAnswerExpected.line);
      else await answerSaslResponse(sasl, answer, this);
      return;
    }
    const command: ParsedCommand =
      event.type === 'command'
        ? parseCommand(event.tokens)
        : { kind: 'invalid', reason: event.reason };
    if (command.kind === 'invalid') {
      this.reply(invalidCommand(command.reason).line);
      return;
    }
    const spec = commandSpec(command.verb);
    if (!spec) {
      this.reply(r.unknownCommand.line);
      return;
    }
    if (spec.credentials && !this.#loginAllowed()) {
      this.reply(r.plaintextDisallowed.line);
      return;
    }
    await spec.handle(this, command.args);
  }
}
