import {
  type Cancellation,
  Deadline,
  type Limits,
  type LoginDialect,
  plainReplay,
  type Replay,
  type ReplayVerdict,
} from '@homing/proxy-core';
import { ImapBackend, type TaggedResponse } from './backend.js';
import { astringFor, quoted } from './quote.js';

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
  signal: Cancellation,
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

/**
 * The IMAP ID list (RFC 2971) with the client address for a backend that trusts us, written
 * out in one string: the keys are ours and need no quoting, and addresses, ports and session
 * ids seldom need escaping.
 */
export function idList({
  connection,
  extra,
}: Pick<Replay<ClientId>, 'connection' | 'extra'>): string {
  const { client, local } = connection;
  let list = '(';
  for (const [key, value] of extra) list += `${quoted(key)} ${quoted(value)} `;
  return `${list}"x-originating-ip" ${quoted(client.address)} "x-originating-port" "${client.port}" "x-connected-ip" ${quoted(local.address)} "x-connected-port" "${local.port}" "x-session-id" ${quoted(connection.id)})`;
}

/**
 * What the client gets before the splice: the backend's untagged lines, the tagged OK with the
 * post-login capabilities, then whatever the backend sent past it. At once when the backend's
 * OK carried its capabilities (Dovecot's does), after a CAPABILITY command otherwise.
 */
export function loginReply(
  tag: string,
  backend: ImapBackend,
  response: TaggedResponse,
  limits: Limits,
): Buffer[] | Promise<Buffer[]> {
  const code = response.code;
  if (code && /^CAPABILITY /i.test(code)) return welcome(tag, backend, response, code);
  return askCapabilities(backend, limits).then((asked) =>
    welcome(tag, backend, response, asked ?? code),
  );
}

/** RFC 9051 §6.2.3: clients want the post-login capabilities; the backend is asked for them. */
async function askCapabilities(backend: ImapBackend, limits: Limits): Promise<string | undefined> {
  const caps = await Deadline.run(limits.backendLoginTimeoutMs, (signal) =>
    backend.command('CAPABILITY', [], signal),
  ).catch(() => undefined);
  const line = caps?.untagged
    .map((b) => b.toString('utf8'))
    .find((l) => /^\* CAPABILITY /i.test(l));
  return line?.trim().slice(2);
}

function welcome(
  tag: string,
  backend: ImapBackend,
  response: TaggedResponse,
  code: string | undefined,
): Buffer[] {
  const reply = `${tag} OK${code ? ` [${code}]` : ''} ${response.text || 'Logged in'}\r\n`;
  return [...response.untagged, Buffer.from(reply), backend.detach()];
}
