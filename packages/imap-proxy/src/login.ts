import {
  Deadline,
  type Limits,
  type LoginDialect,
  plainReplay,
  type Replay,
  type ReplayVerdict,
} from '@homing/proxy-core';
import { ImapBackend, type TaggedResponse } from './backend.js';
import { astringFor } from './quote.js';

/** The client's own ID fields (already sanitized), forwarded with ours. */
export type ClientId = readonly (readonly [string, string])[];

/** IMAP's part of the one login path: its greeting, STARTTLS, ID forwarding and replay. */
export const imapDialect: LoginDialect<ImapBackend, TaggedResponse, ClientId> = {
  protocol: 'imap',
  async greet(socket, tls, endpoint, limits, signal) {
    const session = new ImapBackend(socket, limits.lineBytes);
    if (!(await session.greeting(signal))) throw new Error('backend greeting is not OK');
    if (endpoint.tls === 'starttls' && !(await session.startTls(tls, signal))) {
      throw new Error('backend refused STARTTLS');
    }
    return session;
  },
  async replay(session, login, signal): Promise<ReplayVerdict<TaggedResponse>> {
    // ID goes ahead of the login in the same write: one round trip less per login.
    if (login.endpoint.forward === 'id') session.sendAhead('ID', [idList(login)]);
    const response = await replay(session, login, signal);
    if (response.status === 'OK') return { kind: 'ok', reply: response };
    // [UNAVAILABLE], [SERVERBUG] and the like are the backend's trouble, not the user's.
    const temporary =
      response.status === 'BAD' ||
      /^(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\b/i.test(response.code ?? '');
    const said = `${response.status} [${response.code ?? ''}] ${response.text}`;
    return temporary
      ? { kind: 'unavailable', reason: `backend ${login.route.backend.name} said ${said}` }
      : { kind: 'rejected', detail: said };
  },
};

function replay(
  session: ImapBackend,
  login: Replay<ClientId>,
  signal: AbortSignal,
): Promise<TaggedResponse> {
  const { credentials, route } = login;
  const plain = plainReplay(login);
  if (plain) return session.command('AUTHENTICATE', ['PLAIN', plain.toString('base64')], signal);
  // A password that did not go as PLAIN goes as IMAP's own LOGIN.
  if ('password' in credentials) {
    return session.command(
      'LOGIN',
      [astringFor(route.login), astringFor(credentials.password)],
      signal,
    );
  }
  // The token names the user as the client wrote it; the backend checks both.
  return session.command(
    'AUTHENTICATE',
    [credentials.mechanism, credentials.response.toString('base64')],
    signal,
    () => Buffer.alloc(0), // an error challenge is answered empty, then NO follows (RFC 7628 §3.2.3)
  );
}

/** The IMAP ID list (RFC 2971) with the client address for a backend that trusts us. */
function idList({ connection, extra }: Replay<ClientId>): string {
  const fields: (readonly [string, string])[] = [
    ...extra,
    ['x-originating-ip', connection.client.address],
    ['x-originating-port', String(connection.client.port)],
    ['x-connected-ip', connection.local.address],
    ['x-connected-port', String(connection.local.port)],
    ['x-session-id', connection.id],
  ];
  const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  return `(${fields.map(([k, v]) => `${quote(k)} ${quote(v)}`).join(' ')})`;
}

/**
 * What the client gets before the splice: the backend's untagged lines, the tagged OK with the
 * post-login capabilities, then whatever the backend sent past it.
 */
export async function loginReply(
  tag: string,
  backend: ImapBackend,
  response: TaggedResponse,
  limits: Limits,
): Promise<Buffer[]> {
  let code = response.code;
  if (!code || !/^CAPABILITY /i.test(code)) {
    // RFC 9051 §6.2.3: clients want the post-login capabilities; ask for them.
    const caps = await Deadline.run(limits.backendLoginTimeoutMs, (signal) =>
      backend.command('CAPABILITY', [], signal),
    ).catch(() => undefined);
    const line = caps?.untagged
      .map((b) => b.toString('utf8'))
      .find((l) => /^\* CAPABILITY /i.test(l));
    if (line) code = line.trim().slice(2);
  }
  const reply = `${tag} OK${code ? ` [${code}]` : ''} ${response.text || 'Logged in'}\r\n`;
  return [...response.untagged, Buffer.from(reply), backend.detach()];
}
