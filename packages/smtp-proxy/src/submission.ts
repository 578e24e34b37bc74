import type { Directory, Route } from '@homing/directory';
import {
  type BackendHealth,
  backendTlsOptions,
  type Credentials,
  Deadline,
  failedLogin,
  gateLogin,
  healthKey,
  type Limits,
  type LoginClient,
  login,
  passwordOf,
} from '@homing/proxy-core';
import { SmtpBackend } from './backend.js';
import { type ClientMessage, MessageRelay, type Outlet } from './message-relay.js';
import { forwardParams } from './params.js';
import { isPositive, replyText } from './reply.js';
import type { SmtpAddress } from './server-side/address.js';
import type { EnvelopeHandler, SessionFacts } from './server-side/session.js';
import { messageOutcome, replyError, smtpError, smtpReplies } from './smtp-replies.js';
import { submissionDialect, xclient } from './submission-login.js';

export type SubmissionMode = 'home' | 'relay';

export interface SmarthostOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: 'none' | 'starttls' | 'implicit';
  readonly verify: boolean;
  readonly caFile?: string | undefined;
}

export interface SubmissionOptions {
  readonly mode: SubmissionMode;
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  readonly hostname: string;
  /** Where `relay` mode hands mail on, with XCLIENT LOGIN=. */
  readonly smarthost?: SmarthostOptions | undefined;
  /** True when host:port is one of this node's own listeners (a route loop). */
  readonly isOwnAddress: (host: string, port: number) => boolean;
}

/**
 * Authenticated submission. `home`: the AUTH is replayed on the user's home backend's
 * submission service and the session's mail goes there. `relay`: the password is checked by
 * LDAP bind and mail goes to the smarthost, which is told the user with XCLIENT LOGIN=.
 */
export class Submission implements EnvelopeHandler {
  #upstream: SmtpBackend | undefined;
  #user: string | undefined;
  readonly #dialect: ReturnType<typeof submissionDialect>;
  readonly #options: SubmissionOptions;

  readonly #client: LoginClient;

  constructor(options: SubmissionOptions, client: LoginClient) {
    this.#options = options;
    this.#client = client;
    this.#dialect = submissionDialect(options.hostname);
  }

  /** AUTH: the user's login name once the credentials are good; an SmtpError if not. */
  async auth(credentials: Credentials, session: SessionFacts): Promise<string> {
    const helo = session.hostNameAppearsAs;
    const user =
      this.#options.mode === 'home'
        ? await this.#authAtHome(credentials, helo)
        : await this.#authForRelay(credentials, helo);
    this.#user = user;
    this.#client.log.info({ user, mode: this.#options.mode }, 'authenticated');
    return user;
  }

  /** `home`: the one login path, on the home's submission service. */
  async #authAtHome(credentials: Credentials, helo: string): Promise<string> {
    const result = await login(
      this.#options,
      this.#dialect,
      this.#client,
      credentials,
      { helo },
      () => false,
    );
    switch (result.kind) {
      case 'ok':
        this.#replaceUpstream(result.session);
        return result.route.login;
      case 'refused':
        throw replyError(result.reply);
      case 'unavailable':
      case 'limit':
      case 'abandoned':
        throw smtpError(smtpReplies.authUnavailable);
      case 'failed':
        throw smtpError(smtpReplies.authFailed);
    }
  }

  /**
   * `relay`: the password is checked by LDAP bind and mail goes to the smarthost, told the user
   * with XCLIENT LOGIN=. Not a login at the home, so not the login path.
   */
  async #authForRelay(credentials: Credentials, helo: string): Promise<string> {
    const { guard, log, metrics } = this.#client;
    const { directory, limits } = this.#options;
    const address = this.#client.client.address;
    const username = credentials.user;
    const blocked = await gateLogin(guard, address, username);
    const started = performance.now();
    const fail = async (): Promise<never> => {
      if (!blocked) void guard?.loginFailed(address, username);
      await failedLogin(this.#client, 'submission', limits, started);
      throw smtpError(smtpReplies.authFailed);
    };
    if (blocked) {
      log.info({ user: username }, 'login refused: address or user blocked');
      return fail();
    }
    let route: Route | undefined;
    try {
      route = (
        await directory.lookup(username, {
          timeoutMs: limits.directoryTimeoutMs,
          isHealthy: (name) => !this.#options.health.isDown(healthKey(name, 'submission')),
        })
      ).route;
    } catch (error) {
      log.warn({ user: username, err: String(error) }, 'directory unavailable');
      throw smtpError(smtpReplies.authUnavailable);
    }
    if (!route) {
      log.info({ user: username }, 'login failed: no such user');
      return fail();
    }
    // Relay mode checks passwords only.
    const password = passwordOf(credentials);
    if (!password) return fail();
    const ok = await directory.verifyPassword(route, password).catch((error: unknown) => {
      log.warn({ err: String(error) }, 'password check unavailable');
      throw smtpError(smtpReplies.authUnavailable);
    });
    if (!ok) {
      log.info({ user: username }, 'login failed: wrong password (directory bind)');
      return fail();
    }
    this.#replaceUpstream(await this.#connectSmarthost(route.login, helo));
    void guard?.loginSucceeded(address, route.login);
    metrics.login('submission', 'ok');
    return route.login;
  }

  async mail(from: SmtpAddress): Promise<void> {
    const upstream = this.#need();
    const reply = await upstream
      .command(
        `MAIL FROM:<${from.address}>${forwardParams(from, upstream.extensions, 'mail')}`,
        this.#wait(),
      )
      .catch(() => this.#lost());
    if (!isPositive(reply)) throw replyError(reply);
  }

  async rcpt(to: SmtpAddress): Promise<void> {
    const upstream = this.#need();
    const reply = await upstream
      .command(
        `RCPT TO:<${to.address}>${forwardParams(to, upstream.extensions, 'rcpt')}`,
        this.#wait(),
      )
      .catch(() => this.#lost());
    if (!isPositive(reply)) throw replyError(reply);
  }

  async data(stream: ClientMessage): Promise<string> {
    const upstream = this.#need();
    const protocol = 'submission';
    // Authenticated mail is not checked for loops here: the home or the smarthost does that.
    const relay = new MessageRelay(stream, [{ target: upstream }], Number.POSITIVE_INFINITY);
    const [reply] = await upstream
      .data(relay.outlets[0] as Outlet, 1, this.#options.limits.backendDataTimeoutMs)
      .catch(() => this.#lost());
    await relay.ended();
    if (!reply) return this.#lost();
    if (stream.sizeExceeded) return 'ignored';
    if (isPositive(reply)) {
      this.#client.metrics.smtpMessage(protocol, 'accepted');
      return replyText(reply);
    }
    const error = replyError(reply);
    this.#client.metrics.smtpMessage(protocol, messageOutcome(error));
    throw error;
  }

  close(): void {
    this.#upstream?.close();
    this.#upstream = undefined;
  }

  /** A new login (again after STARTTLS) leaves the previous connection. */
  #replaceUpstream(upstream: SmtpBackend): void {
    this.#upstream?.close();
    this.#upstream = upstream;
  }

  #need(): SmtpBackend {
    if (!this.#upstream || this.#upstream.closed || !this.#user) return this.#lost();
    return this.#upstream;
  }

  #lost(): never {
    this.#upstream?.destroy();
    throw smtpError(smtpReplies.mailServerLost);
  }

  /** How long each command waits for the mail server's reply. */
  #wait(): number {
    return this.#options.limits.backendCommandTimeoutMs;
  }

  async #connectSmarthost(login: string, helo: string): Promise<SmtpBackend> {
    const smarthost = this.#options.smarthost;
    if (!smarthost) throw smtpError(smtpReplies.submissionNotConfigured);
    const upstream = await this.#open(
      smarthost.host,
      smarthost.port,
      smarthost.tls,
      { verify: smarthost.verify, caFile: smarthost.caFile },
      healthKey('smarthost', 'smtp'),
    );
    if (!(await xclient(upstream, this.#client.client, helo, login, this.#wait()))) {
      upstream.close();
      this.#client.log.error('the smarthost does not accept XCLIENT LOGIN from homing');
      throw smtpError(smtpReplies.authUnavailable);
    }
    return upstream;
  }

  async #open(
    host: string,
    port: number,
    tls: SmarthostOptions['tls'],
    backendTls: { verify: boolean; caFile?: string | undefined },
    key: string,
  ): Promise<SmtpBackend> {
    const { health, limits, hostname } = this.#options;
    if (health.isDown(key)) throw smtpError(smtpReplies.mailServerUnavailable);
    const deadline = new Deadline(limits.backendConnectTimeoutMs);
    try {
      const upstream = await SmtpBackend.open(
        {
          host,
          port,
          lmtp: false,
          tls,
          tlsOptions: backendTlsOptions(host, backendTls),
          name: hostname,
          maxLineBytes: limits.lineBytes,
        },
        deadline.signal,
      );
      health.success(key);
      return upstream;
    } catch (error) {
      health.failure(key, String(error));
      this.#client.log.warn({ upstream: key, err: String(error) }, 'mail server unavailable');
      throw smtpError(smtpReplies.mailServerUnavailable);
    } finally {
      deadline.clear();
    }
  }
}
