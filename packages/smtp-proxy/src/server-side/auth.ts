import {
  type ClientConnection,
  type Credentials,
  decodeBase64,
  failedLogin,
  type Limits,
  readSaslResponse,
} from '@homing/proxy-core';
import { SmtpError, smtpError, smtpReplies } from '../smtp-replies.js';
import type { AuthMechanism } from './command.js';
import { authLines, errorLine, sessionLines } from './replies.js';
import type { SessionFacts } from './session.js';

/** What checks submission's credentials: the session's handler, when it has `auth`. */
export interface Authenticator {
  /**
   * AUTH (RFC 4954): the user's login name once the credentials are good, after the failed-login
   * delay an SmtpError if not.
   */
  auth(credentials: Credentials, session: SessionFacts): Promise<string>;
}

/** What a submission listener's sessions share for AUTH, made once when it starts. */
export interface AuthSetup {
  /** AUTH may come before TLS. */
  readonly plaintext: boolean;
  /** The failed-login delay and `lineBytes`, which AUTH lines may exceed. */
  readonly limits: Limits;
}

/** RFC 4954 §4: the AUTH command and SASL responses may be this long, CRLF not counted. */
const saslLineBytes = 12288;

/** A SASL exchange under way: what the next line from the client answers. */
type SaslState =
  | { readonly step: 'response'; readonly mechanism: Exclude<AuthMechanism, 'LOGIN'> }
  | { readonly step: 'login-user' }
  | { readonly step: 'login-password'; readonly user: string }
  /** An OAuth failure's error challenge was sent (RFC 7628 §3.2.2): any line gets the reply. */
  | { readonly step: 'oauth-error'; readonly reply: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** LOGIN's base64 user name or password, as UTF-8; undefined when it is not that or empty. */
function loginText(line: string): string | undefined {
  const bytes = decodeBase64(line);
  if (!bytes || bytes.length === 0) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The AUTH exchange of one submission session (RFC 4954; PLAIN, LOGIN, XOAUTH2, OAUTHBEARER
 * through proxy-core's SASL reading): the AUTH command and the SASL lines that answer its
 * challenges, and who it made the client. Each step gives the reply lines it says; the session
 * sends them with the rest. MX and LMTP sessions have none.
 */
export class AuthExchange {
  readonly #conn: ClientConnection;
  readonly #setup: AuthSetup;
  readonly #checker: Authenticator;
  readonly #facts: SessionFacts;
  #user: string | undefined;
  #sasl: SaslState | undefined;

  constructor(
    connection: ClientConnection,
    setup: AuthSetup,
    checker: Authenticator,
    facts: SessionFacts,
  ) {
    this.#conn = connection;
    this.#setup = setup;
    this.#checker = checker;
    this.#facts = facts;
  }

  /** Who AUTH made the client; undefined before. */
  get user(): string | undefined {
    return this.#user;
  }

  /** A challenge was sent: the next line is a SASL response, not a command. */
  get awaitsResponse(): boolean {
    return this.#sasl !== undefined;
  }

  /** STARTTLS (RFC 3207 §4.2): any AUTH is forgotten. */
  forget(): void {
    this.#user = undefined;
    this.#sasl = undefined;
  }

  /** A line too long to read ends the exchange under way. */
  abandon(): void {
    this.#sasl = undefined;
  }

  /**
   * The longest line taken once a line is past `limits.lineBytes`: an AUTH command and a SASL
   * response may be 12,288 octets (RFC 4954 §4; OAuth tokens are long), other lines no more.
   */
  lineLimit(input: Buffer, start: number): number {
    const { lineBytes } = this.#setup.limits;
    if (this.#sasl) return Math.max(lineBytes, saslLineBytes);
    const verb = input.toString('latin1', start, start + 5).toUpperCase();
    return verb === 'AUTH ' ? Math.max(lineBytes, saslLineBytes) : lineBytes;
  }

  /** AUTH (RFC 4954 §4): after EHLO, outside a transaction, once, over TLS unless allowed. */
  command(
    mechanism: AuthMechanism,
    initial: string | undefined,
    inTransaction: boolean,
  ): string | Promise<string> {
    if (this.#facts.hostNameAppearsAs === '') return sessionLines.helloFirst;
    if (!this.#facts.secure && !this.#setup.plaintext) return authLines.needTls;
    if (inTransaction) return authLines.inTransaction;
    if (this.#user !== undefined) return authLines.already;
    if (mechanism === 'LOGIN') {
      if (initial !== undefined) return this.#respond(initial, { step: 'login-user' });
      this.#sasl = { step: 'login-user' };
      return authLines.loginUser;
    }
    if (initial !== undefined) return this.#respond(initial, { step: 'response', mechanism });
    this.#sasl = { step: 'response', mechanism };
    return authLines.challenge;
  }

  /** One line of a SASL exchange: a response to the server's challenge, or `*` to cancel. */
  response(line: string): string | Promise<string> {
    return this.#respond(line, this.#sasl);
  }

  #respond(line: string, state: SaslState | undefined): string | Promise<string> {
    this.#sasl = undefined;
    if (!state) return '';
    if (state.step === 'oauth-error') return state.reply;
    if (line === '*') return authLines.cancelled;
    if (state.step === 'response') {
      const step = readSaslResponse(state.mechanism, line);
      switch (step.kind) {
        case 'cancelled':
          return authLines.cancelled;
        case 'bad-base64':
          return authLines.badBase64;
        case 'malformed':
          return authLines.malformed;
        case 'no-user':
          return failedLogin(this.#conn, 'submission', this.#setup.limits, performance.now()).then(
            () => this.#failed(state.mechanism, smtpError(smtpReplies.authFailed)),
          );
        case 'credentials':
          return this.#login(step.credentials);
      }
    }
    const text = loginText(line);
    if (text === undefined) return authLines.badBase64;
    if (state.step === 'login-user') {
      this.#sasl = { step: 'login-password', user: text };
      return authLines.loginPassword;
    }
    // LOGIN is PLAIN without an authorization identity, and is replayed as PLAIN.
    return this.#login({ mechanism: 'PLAIN', authzid: '', user: state.user, password: text });
  }

  #login(credentials: Credentials): Promise<string> {
    return this.#checker.auth(credentials, this.#facts).then(
      (user) => {
        this.#user = user;
        return authLines.ok;
      },
      (error: unknown) => this.#failed(credentials.mechanism, error),
    );
  }

  /**
   * A failed AUTH's reply; for OAuth, an error challenge first (RFC 7628 §3.2.2), the reply
   * after the client's answer to it.
   */
  #failed(mechanism: Credentials['mechanism'], error: unknown): string {
    const reply = errorLine(error, this.#conn);
    const oauth = mechanism === 'XOAUTH2' || mechanism === 'OAUTHBEARER';
    if (oauth && error instanceof SmtpError && error.responseCode === 535) {
      this.#sasl = { step: 'oauth-error', reply };
      return authLines.oauthError;
    }
    return reply;
  }
}
