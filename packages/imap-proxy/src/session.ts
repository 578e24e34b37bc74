import {
  type ClientConnection,
  type Credentials,
  failedLogin,
  login,
  PreloginSession,
  type ProtocolListenerOptions,
  readSaslResponse,
  type SaslMechanism,
} from '@homing/proxy-core';
import { preauthCapabilities } from './capabilities.js';
import { astring, type FrameEvent, type ImapCommand, ImapFramer, type Token } from './framer.js';
import { type ClientId, imapDialect, loginReply } from './login.js';

/** A session needs what its listener was started with, less the listener's own parts. */
export type ImapSessionOptions = Omit<ProtocolListenerOptions, 'spec' | 'log'>;

type Handler = (session: ImapSession, command: ImapCommand) => Promise<void> | void;

// RFC 9051 §6.1–6.2: the commands valid in the not-authenticated state, all this proxy reads.
const commands: Record<string, Handler> = {
  CAPABILITY: (s, c) =>
    s.reply(`* CAPABILITY ${s.capabilities()}`, `${c.tag} OK CAPABILITY completed`),
  NOOP: (s, c) => s.reply(`${c.tag} OK NOOP completed`),
  LOGOUT: (s, c) => s.close(['* BYE Logging out', `${c.tag} OK LOGOUT completed`], 'logout'),
  ID: (s, c) => s.id(c),
  STARTTLS: (s, c) => s.startTls(c),
  LOGIN: (s, c) => s.login(c),
  AUTHENTICATE: (s, c) => s.authenticate(c),
};

const AUTH_FAILED = 'NO [AUTHENTICATIONFAILED] Authentication failed.';
const texts = {
  idle: '* BYE Autologout; idle for too long',
  authTimeout: '* BYE Autologout; authentication took too long',
  kicked: '* BYE Disconnected by the administrator',
  shutdown: '* BYE Server shutting down, please reconnect',
  internalError: '* BYE Internal error',
};
/**
 * RFC 2971 §3.3: a client's ID holds at most 30 field-value pairs, a field name at most 30
 * octets and a value at most 1024; anything beyond is dropped rather than passed to the backend.
 */
const ID_MAX_PAIRS = 30;
const ID_MAX_KEY_OCTETS = 30;
const ID_MAX_VALUE_OCTETS = 1024;

const capabilityLists = new WeakMap<ImapSessionOptions, string[]>();
const UNAVAILABLE = 'NO [UNAVAILABLE] Temporary failure, try again later.';

/** One client connection, from greeting to splice. Nothing after the splice is parsed. */
export class ImapSession extends PreloginSession<FrameEvent> {
  protected readonly protocol = 'imap';
  readonly #options: ImapSessionOptions;
  readonly #framer: ImapFramer;
  #commands = 0;
  #clientId: ClientId = [];
  #awaitingSasl: { tag: string; mechanism: SaslMechanism } | undefined;

  constructor(connection: ClientConnection, options: ImapSessionOptions) {
    super(connection, options.limits, options.registry);
    this.#options = options;
    this.#framer = new ImapFramer(options.limits);
  }

  protected readonly texts = texts;

  protected greeting(): string {
    return `* OK [CAPABILITY ${this.capabilities()}] homing ready.`;
  }

  protected push(chunk: Buffer): void {
    this.#framer.push(chunk);
  }

  protected next(): FrameEvent | undefined {
    return this.#framer.next();
  }

  protected takeRest(): Buffer {
    return this.#framer.takeRest();
  }

  /** The list depends on the listener and on two facts of the connection: made once each. */
  capabilities(): string {
    let lists = capabilityLists.get(this.#options);
    if (!lists) {
      lists = [];
      capabilityLists.set(this.#options, lists);
    }
    const secure = this.conn.secure;
    const canStartTls = this.#canStartTls();
    const index = (secure ? 1 : 0) + (canStartTls ? 2 : 0);
    lists[index] ??= preauthCapabilities({
      secure,
      canStartTls,
      allowPlaintext: this.#options.allowPlaintext,
      oauth: this.#options.oauth,
    });
    return lists[index];
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
    this.reply('* ID ("name" "homing")', `${command.tag} OK ID completed`);
  }

  async startTls(command: ImapCommand): Promise<void> {
    const tls = this.#options.tls;
    if (!tls || !this.#canStartTls()) {
      this.reply(`${command.tag} BAD STARTTLS not available`);
      return;
    }
    this.reply(`${command.tag} OK Begin TLS negotiation now`);
    await this.upgradeTls(tls);
  }

  async login(command: ImapCommand): Promise<void> {
    const [user, password] = command.args.map(astring);
    if (command.args.length !== 2 || !user || password === undefined) {
      this.reply(`${command.tag} BAD LOGIN needs a user name and a password`);
      return;
    }
    if (!this.#plaintextAllowed()) {
      this.reply(
        `${command.tag} NO [PRIVACYREQUIRED] Plaintext login is disabled before STARTTLS.`,
      );
      return;
    }
    await this.#login(command.tag, { mechanism: 'LOGIN', user, password });
  }

  async authenticate(command: ImapCommand): Promise<void> {
    const name = typeof command.args[0] === 'string' ? command.args[0].toUpperCase() : '';
    const oauth = name === 'XOAUTH2' || name === 'OAUTHBEARER';
    if (!(name === 'PLAIN' || (oauth && this.#options.oauth)) || command.args.length > 2) {
      this.reply(`${command.tag} NO Unsupported authentication mechanism`);
      return;
    }
    const mechanism = name as SaslMechanism;
    if (!this.#plaintextAllowed()) {
      this.reply(`${command.tag} NO [PRIVACYREQUIRED] Authentication is disabled before STARTTLS.`);
      return;
    }
    const initial = astring(command.args[1]);
    if (initial !== undefined) return this.#saslResponse(command.tag, mechanism, initial);
    // No initial response (RFC 4959): ask for it; the next line is the answer, not a command.
    this.#awaitingSasl = { tag: command.tag, mechanism };
    this.#framer.expectLine();
    this.reply('+ ');
  }

  async #saslResponse(tag: string, mechanism: SaslMechanism, response: string): Promise<void> {
    const step = readSaslResponse(mechanism, response);
    switch (step.kind) {
      case 'cancelled':
        this.reply(`${tag} BAD Authentication cancelled`);
        return;
      case 'bad-base64':
        this.reply(`${tag} BAD Invalid base64 in authentication response`);
        return;
      case 'malformed':
        this.reply(`${tag} BAD Malformed PLAIN response`);
        return;
      case 'no-user':
        await failedLogin(this.conn, 'imap', this.limits, performance.now());
        this.reply(`${tag} ${AUTH_FAILED}`);
        return;
      case 'credentials':
        await this.#login(tag, step.credentials);
    }
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
    await this.answerLogin(result, {
      failed: `${tag} ${AUTH_FAILED}`,
      unavailable: `${tag} ${UNAVAILABLE}`,
      limit: `${tag} NO [LIMIT] Too many sessions for this user`,
      welcome: (session, reply) => loginReply(tag, session, reply, this.limits),
    });
  }

  protected async handle(event: FrameEvent): Promise<void> {
    switch (event.type) {
      case 'continue':
        this.reply('+ Ready for literal data');
        return;
      case 'line': {
        const sasl = this.#awaitingSasl;
        this.#awaitingSasl = undefined;
        if (sasl) await this.#saslResponse(sasl.tag, sasl.mechanism, event.line.toString('latin1'));
        return;
      }
      case 'error': {
        const tag = event.tag ?? '*';
        const text =
          event.kind === 'syntax'
            ? `BAD Error in IMAP command: ${event.message}`
            : `BAD [TOOBIG] ${capitalize(event.message)}`;
        if (event.fatal) this.close([`${tag} ${text}`, '* BYE Closing connection'], event.kind);
        else this.reply(`${tag} ${text}`);
        return;
      }
      case 'command': {
        this.#commands += 1;
        if (this.#commands > this.limits.commands) {
          this.close(['* BYE Too many commands before login'], 'too many commands');
          return;
        }
        const handler = commands[event.name];
        if (!handler) {
          this.reply(`${event.tag} BAD Command unknown or not valid before login`);
          return;
        }
        await handler(this, event);
      }
    }
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export type { Token };
