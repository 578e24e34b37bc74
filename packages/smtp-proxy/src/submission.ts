import type { Directory, Route } from '@homing/directory';
import {
  type AbuseGuard,
  atLeast,
  type BackendHealth,
  backendTlsOptions,
  Deadline,
  gateLogin,
  type Limits,
  type Endpoint as Peer,
  type ProxyMetrics,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerDataStream,
  SMTPServerSession,
} from 'smtp-server';
import { BackendClient } from './backend-client.js';
import { MessageRelay, type Outlet } from './message-relay.js';
import { forwardParams } from './params.js';
import { isPositive, replyError, replyText, SmtpError } from './reply.js';
import { xtext } from './xtext.js';

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
  readonly metrics: ProxyMetrics;
  readonly guard?: AbuseGuard | undefined;
  readonly log: Logger;
}

const AUTH_FAILED = '5.7.8 Authentication credentials invalid';

/**
 * Authenticated submission. `home`: the AUTH is replayed on the user's home backend's
 * submission service and the session's mail goes there. `relay`: the password is checked by
 * LDAP bind and mail goes to the smarthost, which is told the user with XCLIENT LOGIN=.
 */
export class Submission {
  #upstream: BackendClient | undefined;
  #user: string | undefined;
  readonly #options: SubmissionOptions;

  constructor(
    options: SubmissionOptions,
    readonly client: { readonly address: Peer; readonly local: Peer },
  ) {
    this.#options = options;
  }

  async auth(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<string> {
    const { guard } = this.#options;
    const address = this.client.address.address;
    const blocked = await gateLogin(guard, address, auth.username);
    const started = performance.now();
    const fail = async (): Promise<never> => {
      this.#options.metrics.login('submission', 'failed');
      if (!blocked) void guard?.loginFailed(address, auth.username);
      await atLeast(started, this.#options.limits.failedLoginDelayMs);
      throw new SmtpError(535, AUTH_FAILED);
    };
    if (blocked) {
      this.#options.log.info({ user: auth.username }, 'login refused: address or user blocked');
      return fail();
    }
    const username = auth.username ?? '';
    const { directory, limits, log } = this.#options;
    let route: Route | undefined;
    try {
      route = (
        await directory.lookup(username, {
          timeoutMs: limits.backendConnectTimeoutMs,
          isHealthy: (name) => !this.#options.health.isDown(`${name}/submission`),
        })
      ).route;
    } catch (error) {
      log.warn({ user: username, err: String(error) }, 'directory unavailable');
      throw new SmtpError(454, '4.7.0 Temporary authentication failure, try again later');
    }
    if (!route) {
      log.info({ user: username }, 'login failed: no such user');
      return fail();
    }
    if (this.#options.mode === 'relay') {
      if (auth.method === 'XOAUTH2' || !auth.password) return fail(); // relay mode checks passwords only
      const ok = await directory.verifyPassword(route, auth.password).catch((error: unknown) => {
        log.warn({ err: String(error) }, 'password check unavailable');
        throw new SmtpError(454, '4.7.0 Temporary authentication failure, try again later');
      });
      if (!ok) {
        log.info({ user: username }, 'login failed: wrong password (directory bind)');
        return fail();
      }
      this.#upstream = await this.#connectSmarthost(route.login, session);
    } else {
      const accepted = await this.#authAtHome(route, auth, session);
      if (!accepted) {
        log.info(
          { user: username, backend: route.backend.name },
          'login failed: rejected by the backend',
        );
        return fail();
      }
    }
    this.#user = route.login;
    void guard?.loginSucceeded(address, route.login);
    this.#options.metrics.login('submission', 'ok');
    log.info({ user: route.login, mode: this.#options.mode }, 'authenticated');
    return route.login;
  }

  async mail(from: SMTPServerAddress, _session?: SMTPServerSession): Promise<void> {
    const upstream = this.#need();
    const reply = await upstream
      .command(
        `MAIL FROM:<${from.address}>${forwardParams(from, upstream.extensions, 'mail')}`,
        this.#wait(),
      )
      .catch(() => this.#lost());
    if (!isPositive(reply)) throw replyError(reply);
  }

  async rcpt(to: SMTPServerAddress, _session?: SMTPServerSession): Promise<void> {
    const upstream = this.#need();
    const reply = await upstream
      .command(
        `RCPT TO:<${to.address}>${forwardParams(to, upstream.extensions, 'rcpt')}`,
        this.#wait(),
      )
      .catch(() => this.#lost());
    if (!isPositive(reply)) throw replyError(reply);
  }

  async data(stream: SMTPServerDataStream, _session?: SMTPServerSession): Promise<string> {
    const upstream = this.#need();
    const protocol = 'submission';
    // Authenticated mail is not checked for loops here: the home or the smarthost does that.
    const relay = new MessageRelay(stream, [{ target: upstream }], Number.POSITIVE_INFINITY);
    const [reply] = await upstream
      .data(relay.outlets[0] as Outlet, 1, this.#options.limits.backendLoginTimeoutMs * 4)
      .catch(() => this.#lost());
    await relay.ended();
    if (!reply) return this.#lost();
    if (stream.sizeExceeded) return 'ignored';
    const outcome = isPositive(reply) ? 'accepted' : reply.code >= 500 ? 'refused' : 'deferred';
    this.#options.metrics.smtpMessage(protocol, outcome);
    if (!isPositive(reply)) throw replyError(reply);
    return replyText(reply);
  }

  close(): void {
    this.#upstream?.close();
    this.#upstream = undefined;
  }

  #need(): BackendClient {
    if (!this.#upstream || this.#upstream.closed || !this.#user) return this.#lost();
    return this.#upstream;
  }

  #lost(): never {
    this.#upstream?.destroy();
    throw new SmtpError(451, '4.4.2 Connection to the mail server lost, try again later');
  }

  /** How long each command waits for the mail server's reply. */
  #wait(): number {
    return this.#options.limits.backendLoginTimeoutMs;
  }

  async #authAtHome(
    route: Route,
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
  ): Promise<boolean> {
    const endpoint = route.backend.endpoints.submission;
    if (!endpoint) {
      this.#options.log.error(
        { backend: route.backend.name },
        'the home backend has no submission service configured',
      );
      throw new SmtpError(454, '4.7.0 Temporary authentication failure, try again later');
    }
    const upstream = await this.#open(
      route.backend.host,
      endpoint.port,
      endpoint.tls,
      route.backend.tls,
      `${route.backend.name}/submission`,
    );
    if (endpoint.forward === 'xclient') await this.#xclient(upstream, session, undefined);
    const response =
      auth.method === 'XOAUTH2'
        ? Buffer.from(
            `user=${auth.username}\u0001auth=Bearer ${auth.accessToken}\u0001\u0001`,
          ).toString('base64')
        : Buffer.from(`\u0000${route.login}\u0000${auth.password ?? ''}`).toString('base64');
    const reply = await upstream.command(
      `AUTH ${auth.method === 'XOAUTH2' ? 'XOAUTH2' : 'PLAIN'} ${response}`,
      this.#wait(),
    );
    if (reply.code === 334) {
      // XOAUTH2 error challenge: answer empty, the failure reply follows (RFC 7628 §3.2.3).
      const final = await upstream.command('', this.#wait());
      upstream.close();
      if (final.code >= 400 && final.code < 500) throw replyError(final);
      return false;
    }
    if (reply.code === 235) {
      this.#upstream = upstream;
      return true;
    }
    upstream.close();
    if (reply.code >= 400 && reply.code < 500) throw replyError(reply);
    return false;
  }

  async #connectSmarthost(login: string, session: SMTPServerSession): Promise<BackendClient> {
    const smarthost = this.#options.smarthost;
    if (!smarthost) throw new SmtpError(454, '4.7.0 Submission is not configured');
    const upstream = await this.#open(
      smarthost.host,
      smarthost.port,
      smarthost.tls,
      { verify: smarthost.verify, caFile: smarthost.caFile },
      'smarthost/smtp',
    );
    if (!(await this.#xclient(upstream, session, login))) {
      upstream.close();
      this.#options.log.error('the smarthost does not accept XCLIENT LOGIN from homing');
      throw new SmtpError(454, '4.7.0 Temporary authentication failure, try again later');
    }
    return upstream;
  }

  async #open(
    host: string,
    port: number,
    tls: SmarthostOptions['tls'],
    backendTls: { verify: boolean; caFile?: string | undefined },
    key: string,
  ): Promise<BackendClient> {
    const { health, limits, hostname } = this.#options;
    if (health.isDown(key))
      throw new SmtpError(454, '4.7.0 Mail server unavailable, try again later');
    const deadline = new Deadline(limits.backendConnectTimeoutMs);
    try {
      const upstream = await BackendClient.open(
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
      this.#options.log.warn({ upstream: key, err: String(error) }, 'mail server unavailable');
      throw new SmtpError(454, '4.7.0 Mail server unavailable, try again later');
    } finally {
      deadline.clear();
    }
  }

  /** XCLIENT with the client's address (and the user, in relay mode); true when accepted. */
  async #xclient(
    upstream: BackendClient,
    session: SMTPServerSession,
    login: string | undefined,
  ): Promise<boolean> {
    const offered = upstream.extensions.get('XCLIENT');
    if (offered === undefined) return false;
    const names = new Set(offered.toUpperCase().split(/\s+/));
    if (login !== undefined && !names.has('LOGIN')) return false;
    const attributes: [string, string][] = [
      ['ADDR', this.client.address.address],
      ['PORT', String(this.client.address.port)],
      ['HELO', session.hostNameAppearsAs || ''],
      ['NAME', '[UNAVAILABLE]'],
      ['PROTO', 'ESMTP'],
      ...(login !== undefined ? ([['LOGIN', login]] as [string, string][]) : []),
    ];
    const sent = attributes.filter(([name, value]) => names.has(name) && value !== '');
    const reply = await upstream.command(
      `XCLIENT ${sent.map(([n, v]) => `${n}=${xtext(v)}`).join(' ')}`,
      this.#wait(),
    );
    if (reply.code !== 220 && reply.code !== 250) return false;
    const helo = session.hostNameAppearsAs;
    if (reply.code === 220)
      await upstream.hello(this.#wait(), /^[\w.-]+$/.test(helo ?? '') ? helo : undefined);
    return true;
  }
}
