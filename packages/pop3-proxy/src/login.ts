import type { Endpoint } from '@homing/directory';
import {
  type Cancellation,
  encodePlain,
  forwardClient,
  type LoginClient,
  type LoginDialect,
  plainReplay,
  type Replay,
  type ReplayVerdict,
} from '@homing/proxy-core';
import { Pop3Backend } from './backend.js';
import { hasControlCharacters } from './command.js';
import type { Pop3Reply } from './reply.js';

/** POP3's part of the one login path: its greeting, STLS, XCLIENT and replay. */
export const pop3Dialect: LoginDialect<Pop3Backend, Pop3Reply, undefined> = {
  protocol: 'pop3',
  async greet(socket, tls, endpoint, limits, signal) {
    const session = new Pop3Backend(socket, limits.lineBytes);
    if (!(await session.greeting(signal))) throw new Error('backend greeting is not +OK');
    if (endpoint.tls === 'starttls' && !(await session.startTls(tls, signal))) {
      throw new Error('backend refused STLS');
    }
    return session;
  },
  async replay(session, login, signal): Promise<ReplayVerdict<Pop3Reply>> {
    await forward(session, login.connection, login.endpoint, signal);
    const reply = await replay(session, login, signal);
    if (reply.status === 'ok') return { kind: 'ok', reply };
    // RFC 3206 §4: [AUTH] is a credentials problem; a bare -ERR may be one too.
    const code = reply.code?.toUpperCase();
    return code === undefined || code === 'AUTH'
      ? { kind: 'rejected', detail: reply.text }
      : { kind: 'refused', reply, detail: reply.raw.toString('utf8') };
  },
  forward,
};

/**
 * XCLIENT waits for its reply before the login goes: pipelined, Dovecot 2.3's pop3-login writes
 * both replies at once and the second waits (Nagle) for the ACK of the first, which this side
 * delays by 40 ms (a POP3 login at one at a time took 44 ms instead of 2).
 */
async function forward(
  session: Pop3Backend,
  connection: LoginClient,
  endpoint: Endpoint,
  signal: Cancellation,
): Promise<void> {
  if (session.forwarded) return; // on the connection opened at USER
  session.forwarded = true;
  if (endpoint.forward !== 'xclient') return;
  await forwardClient(connection, session.xclient, async (f) => {
    const reply = await session.command(
      `XCLIENT ADDR=${f.ADDR} PORT=${f.PORT} SESSION=${f.SESSION}`,
      signal,
    );
    return reply.status === 'ok' ? undefined : reply.raw.toString('utf8');
  });
}

function replay(
  session: Pop3Backend,
  login: Replay<undefined>,
  signal: Cancellation,
): Promise<Pop3Reply> {
  const { credentials, route } = login;
  const plain = plainReplay(login);
  if (plain) return session.authenticate('PLAIN', plain, signal);
  // A password that did not go as PLAIN goes as POP3's own USER and PASS.
  if ('password' in credentials) {
    // Dovecot (the only POP3 server whose greeting offers XCLIENT) checks PASS as a SASL PLAIN
    // login itself, and takes PLAIN wherever it takes USER and PASS: one round trip, not two.
    if (session.xclient && !hasControlCharacters(route.login)) {
      const plain = encodePlain('', route.login, credentials.password);
      return session.authenticate('PLAIN', plain, signal);
    }
    return userPass(session, route.login, credentials.password, signal);
  }
  // The token names the user as the client wrote it; the backend checks both. An error
  // challenge gets the dummy answer RFC 7628 §3.2.3 asks for, then -ERR follows.
  return session.authenticate(credentials.mechanism, credentials.response, signal, () =>
    credentials.mechanism === 'OAUTHBEARER' ? 'AQ==' : '',
  );
}

/** RFC 1939 §7: USER, then PASS. The login comes from the directory, the password from the client. */
async function userPass(
  session: Pop3Backend,
  login: string,
  password: string,
  signal: Cancellation,
): Promise<Pop3Reply> {
  if (hasControlCharacters(login)) {
    throw new Error('the login from the directory has control characters');
  }
  const user = await session.command(`USER ${login}`, signal);
  if (user.status !== 'ok') return user;
  return session.command(`PASS ${password}`, signal);
}
