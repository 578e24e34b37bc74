import { type LoginDialect, type Peer, plainReplay, type ReplayVerdict } from '@homing/proxy-core';
import { SmtpBackend, type Wait } from './backend.js';
import type { SmtpReply } from './reply.js';
import { xtext } from './xtext.js';

/** What the submission session adds to a login: the name the client gave in EHLO. */
export interface SubmissionLogin {
  readonly helo: string | undefined;
}

/**
 * Submission's part of the one login path: the home's submission service, XCLIENT with the
 * client's address where it is offered, and the AUTH replayed (RFC 4954).
 */
export function submissionDialect(
  hostname: string,
): LoginDialect<SmtpBackend, SmtpReply, SubmissionLogin> {
  return {
    protocol: 'submission',
    spliced: false,
    greet: (socket, tls, endpoint, limits, signal) =>
      SmtpBackend.over(
        socket,
        {
          host: '',
          port: 0,
          lmtp: false,
          tls: endpoint.tls,
          tlsOptions: tls,
          name: hostname,
          maxLineBytes: limits.lineBytes,
        },
        signal,
      ),
    async replay(upstream, login, signal): Promise<ReplayVerdict<SmtpReply>> {
      if (login.endpoint.forward === 'xclient') {
        await xclient(upstream, login.connection.client, login.extra.helo, undefined, signal);
      }
      const { credentials } = login;
      // Submission replays every password as PLAIN (RFC 4954 with RFC 4616).
      const plain = plainReplay(login);
      const command =
        plain !== undefined
          ? `AUTH PLAIN ${plain.toString('base64')}`
          : 'response' in credentials
            ? `AUTH ${credentials.mechanism} ${credentials.response.toString('base64')}`
            : undefined;
      if (command === undefined) throw new Error('submission replays PLAIN and OAuth logins only');
      let reply = await upstream.command(command, signal);
      if (reply.code === 334) {
        // An OAuth error challenge: answer empty, the failure reply follows (RFC 7628 §3.2.3).
        reply = await upstream.command('', signal);
      }
      if (reply.code === 235) return { kind: 'ok', reply };
      const said = `${reply.code} ${reply.lines.join(' ')}`;
      // A 4xx is the server's passing trouble (RFC 4954 §6): the client hears it as it was said.
      return reply.code >= 400 && reply.code < 500
        ? { kind: 'refused', reply, detail: said }
        : { kind: 'rejected', detail: said };
    },
  };
}

/**
 * XCLIENT with the client's address (and, towards a smarthost, the user), where the server
 * offers it (Postfix XCLIENT_README); true when it was accepted.
 */
export async function xclient(
  upstream: SmtpBackend,
  client: Peer,
  helo: string | undefined,
  login: string | undefined,
  wait: Wait,
): Promise<boolean> {
  const offered = upstream.extensions.get('XCLIENT');
  if (offered === undefined) return false;
  const names = new Set(offered.toUpperCase().split(/\s+/));
  if (login !== undefined && !names.has('LOGIN')) return false;
  const attributes: [string, string][] = [
    ['ADDR', client.address],
    ['PORT', String(client.port)],
    ['HELO', helo ?? ''],
    ['NAME', '[UNAVAILABLE]'],
    ['PROTO', 'ESMTP'],
    ...(login !== undefined ? ([['LOGIN', login]] as [string, string][]) : []),
  ];
  const sent = attributes.filter(([name, value]) => names.has(name) && value !== '');
  const reply = await upstream.command(
    `XCLIENT ${sent.map(([n, v]) => `${n}=${xtext(v)}`).join(' ')}`,
    wait,
  );
  if (reply.code !== 220 && reply.code !== 250) return false;
  if (reply.code === 220)
    await upstream.hello(wait, /^[\w.-]+$/.test(helo ?? '') ? helo : undefined);
  return true;
}
