import {
  answerSaslResponse,
  type ClientConnection,
  type Credentials,
  failedLogin,
  login,
  PreloginSession,
  type ProtocolListenerOptions,
  preloginTexts,
  type SaslMechanism,
} from '@homing/proxy-core';
import { preauthCapabilities } from './capabilities.js';
import { type ClientId, imapDialect, loginReply } from './login.js';
import { astring, type ImapCommand, ImapReader, type ReadEvent, type Token } from './reader.js';
import {
  commandError,
  greeting,
  imapReplies as r,
  saslErrors,
  tagged,
  tooBig,
  untagged,
} from './replies.js';

/** A session needs what its listener was started with, less the listener's own parts. */
export type ImapSessionOptions = Omit<ProtocolListenerOptions, 'spec' | 'log'>;

type CommandHandler = (session: ImapSession, command: ImapCommand) => Promise<void> | void;

// RFC 9051 §6.1–6.2: the commands valid in the not-authenticated state, all this proxy reads.
const commands: Record<string, CommandHandler> = {
  CAPABILITY: (s, c) =>
    s.reply(`* CAPABILITY ${s.capabilities()}`, tagged(c.tag, r.capabilityDone)),
  NOOP: (s, c) => s.reply(tagged(c.tag, r.noopDone)),
  LOGOUT: (s, c) => s.close([untagged(r.loggingOut), tagged(c.tag, r.logoutDone)], 'logout'),
  ID: (s, c) => s.id(c),
  STARTTLS: (s, c) => s.startTls(c),
  LOGIN: (s, c) => s.login(c),
  AUTHENTICATE: (s, c) => s.authenticate(c),
};

const texts = preloginTexts(r, untagged);
/**
 * RFC 2971 §3.3: a client's ID holds at most 30 field-value pairs, a field name at most 30
 * octets and a value at most 1024; anything beyond is dropped rather than passed to the backend.
 */
const ID_MAX_PAIRS = 30;
const ID_MAX_KEY_OCTETS = 30;
const ID_MAX_VALUE_OCTETS = 1024;

/** A listener's capability lists and greetings, by the connection's facts (see `capabilities`). */
const capabilityLists = new WeakMap<
  ImapSessionOptions,
  { readonly lists: string[]; readonly greetings: Buffer[] }
>();

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class ImapSession extends PreloginSession<ReadEvent> {
  protected readonly protocol = 'imap';
  readonly #options: ImapSessionOptions;
  readonly #reader: ImapReader;
  #commands = 0;
  #clientId: ClientId = [];
  #awaitingSasl: { tag: string; mechanism: SaslMechanism } | undefined;

  constructor(connection: ClientConnection, options: ImapSessionOptions) {
    super(connection, options.limits, options.registry);
    this.#options = options;
    this.#reader = new ImapReader(options.limits);
  }

  protected readonly texts = texts;

  protected greeting(): Buffer {
    const made = this.#made();
    const index = this.#factsIndex();
    made.greetings[index] ??= Buffer.from(`${greeting(this.capabilities())}\r\n`);
    return made.greetings[index];
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

  /** The list depends on the listener and on two facts of the connection: made once each. */
  capabilities(): string {
    const { lists } = this.#made();
    const index = this.#factsIndex();
    lists[index] ??= preauthCapabilities({
      secure: this.conn.secure,
      canStartTls: this.#canStartTls(),
      allowPlaintext: this.#options.allowPlaintext,
      oauth: this.#options.oauth,
    });
    return lists[index];
  }

  #made(): { readonly lists: string[]; readonly greetings: Buffer[] } {
    let made = capabilityLists.get(this.#options);
    if (!made) {
      made = { lists: [], greetings: [] };
      capabilityLists.set(this.#options, made);
    }
    return made;
  }

  /** Which of a listener's lists this connection gets: TLS on, and STARTTLS on offer. */
  #factsIndex(): number {
    return (this.conn.secure ? 1 : 0) + (this.#canStartTls() ? 2 : 0);
  }

  id(command: ImapCommand): void {
    const [list] = command.args;
    if (Array.isArray(list)) {
      const fields: (readonly [string, string])[] = [];
      for (let i = 0; i + 1 < list.length && fields.length < ID_MAX_PAIRS; i += 2) {
        const key = astring(list[i]);
        const value = astring(list[i + 1]);
        // The client may not speak for the proxy: x-originating-* and friends are ours to set.
        if (
          key &&
          value !== undefined &&
          !/^x-/i.test(key) &&
          key.length <= ID_MAX_KEY_OCTETS &&
          value.length <= ID_MAX_VALUE_OCTETS
        ) {
          fields.push([key, value]);
        }
      }
      this.#clientId = fields;
    }
    this.reply('* ID ("name" "homing")', tagged(command.tag, r.idDone));
  }

  async startTls(command: ImapCommand): Promise<void> {
    const tls = this.#options.tls;
    if (!tls || !this.#canStartTls()) {
      this.reply(tagged(command.tag, r.noStartTls));
      return;
    }
    this.reply(tagged(command.tag, r.beginTls));
    await this.upgradeTls(tls);
  }

  login(command: ImapCommand): Promise<void> | undefined {
    const [user, password] = command.args.map(astring);
    if (command.args.length !== 2 || !user || password === undefined) {
      this.reply(tagged(command.tag, r.loginArguments));
      return undefined;
    }
    if (!this.#plaintextAllowed()) {
      this.reply(tagged(command.tag, r.loginNeedsTls));
      return undefined;
    }
    return this.#login(command.tag, { mechanism: 'LOGIN', user, password });
  }

  async authenticate(command: ImapCommand): Promise<void> {
    const name = typeof command.args[0] === 'string' ? command.args[0].toUpperCase() : '';
    const oauth = name === 'XOAUTH2' || name === 'OAUTHBEARER';
    if (!(name === 'PLAIN' || (oauth && this.#options.oauth)) || command.args.length > 2) {
      this.reply(tagged(command.tag, r.unsupportedMechanism));
      return;
    }
    const mechanism = name as SaslMechanism;
    if (!this.#plaintextAllowed()) {
      this.reply(tagged(command.tag, r.authenticateNeedsTls));
      return;
    }
    const initial = astring(command.args[1]);
    if (initial !== undefined) return this.#saslResponse(command.tag, mechanism, initial);
    // No initial response (RFC 4959): ask for it; the next line is the answer, not a command.
    this.#awaitingSasl = { tag: command.tag, mechanism };
    this.#reader.expectLine();
    this.reply('+ ');
  }

  #saslResponse(tag: string, mechanism: SaslMechanism, response: string): Promise<void> {
    return answerSaslResponse(mechanism, response, {
      refusals: saslErrors,
      refuse: (reply) => this.reply(tagged(tag, reply)),
      failLogin: async () => {
        await failedLogin(this.conn, 'imap', this.limits, performance.now());
        this.reply(tagged(tag, r.authFailed));
      },
      login: (credentials) => this.#login(tag, credentials),
    });
  }

  #canStartTls(): boolean {
    return (
      this.conn.listener.tls === 'starttls' && this.#options.tls !== undefined && !this.conn.secure
    );
  }

  #plaintextAllowed(): boolean {
    return this.conn.secure || this.#options.allowPlaintext;
  }

  async #login(tag: string, credentials: Credentials): Promise<void> {
    const result = await login(
      this.#options,
      imapDialect,
      this.conn,
      credentials,
      this.#clientId,
      () => this.closed,
    );
    return this.answerLogin(result, {
      failed: tagged(tag, r.authFailed),
      unavailable: tagged(tag, r.unavailable),
      limit: tagged(tag, r.tooManySessions),
      welcome: (session, reply) => loginReply(tag, session, reply, this.limits),
    });
  }

  protected handle(event: ReadEvent): Promise<void> | undefined {
    switch (event.type) {
      case 'continue':
        this.reply('+ Ready for literal data');
        return undefined;
      case 'line': {
        const sasl = this.#awaitingSasl;
        this.#awaitingSasl = undefined;
        if (sasl)
          return this.#saslResponse(sasl.tag, sasl.mechanism, event.line.toString('latin1'));
        return undefined;
      }
      case 'error': {
        const tag = event.tag ?? '*';
        const reply = tagged(
          tag,
          event.kind === 'syntax' ? commandError(event.message) : tooBig(event.message),
        );
        if (event.fatal) this.close([reply, untagged(r.closing)], event.kind);
        else this.reply(reply);
        return undefined;
      }
      case 'command': {
        this.#commands += 1;
        if (this.#commands > this.limits.commands) {
          this.close([untagged(r.tooManyCommands)], 'too many commands');
          return undefined;
        }
        const handler = commands[event.name];
        if (!handler) {
          this.reply(tagged(event.tag, r.unknownCommand));
          return undefined;
        }
        const handled = handler(this, event);
        return handled instanceof Promise ? handled : undefined;
      }
    }
  }
}

export type { Token };
