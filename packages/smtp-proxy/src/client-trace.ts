import type { Peer } from '@homing/proxy-core';
import type { Logger } from 'pino';
import type { SmtpBackend, Wait } from './backend.js';
import { receivedHeader } from './headers.js';
import type { SessionFacts } from './server-side/session.js';
import { xtext } from './xtext.js';

/** Who the backend should see as the sender of a message it gets through this proxy. */
export interface ClientTrace {
  readonly session: SessionFacts | undefined;
  /** The client's connection: its address, and its logger (read only when a line is written). */
  readonly connection: { readonly client: Peer; readonly log: Logger };
  /** Our host name, the `by` of Received headers. */
  readonly hostname: string;
  readonly lmtp: boolean;
}

/**
 * XCLIENT (Postfix XCLIENT_README): the backend then logs and traces the real client. False when
 * the backend does not offer it or refused it: a Received header written here must do instead.
 */
export async function sendXclient(
  client: SmtpBackend,
  trace: ClientTrace,
  wait: Wait,
): Promise<boolean> {
  const offered = client.extensions.get('XCLIENT');
  if (offered === undefined) return false;
  const names = new Set(offered.toUpperCase().split(/\s+/));
  const { session } = trace;
  const attributes: [string, string][] = [
    ['ADDR', trace.connection.client.address],
    ['PORT', String(trace.connection.client.port)],
    ['HELO', session?.hostNameAppearsAs || ''],
    ['NAME', '[UNAVAILABLE]'],
    ['PROTO', trace.lmtp ? 'LMTP' : 'ESMTP'],
  ];
  const sent = attributes.filter(([name, value]) => names.has(name) && value !== '');
  if (sent.length === 0) return false;
  const reply = await client.command(
    `XCLIENT ${sent.map(([n, v]) => `${n}=${xtext(v)}`).join(' ')}`,
    wait,
  );
  if (reply.code !== 220 && reply.code !== 250) {
    trace.connection.log.warn(
      { code: reply.code },
      'backend refused XCLIENT; adding a Received header instead',
    );
    return false;
  }
  // Postfix answers XCLIENT with a new greeting and wants EHLO again: with the client's name.
  if (reply.code === 220)
    await client.hello(
      wait,
      /^[\w.-]+$/.test(session?.hostNameAppearsAs ?? '') ? session?.hostNameAppearsAs : undefined,
    );
  return true;
}

/** The Received header (RFC 5321 §4.4) for a backend that was not told the client otherwise. */
export function receivedFor(trace: ClientTrace, recipient: string | undefined): string {
  const s = trace.session;
  return receivedHeader({
    helo: s?.hostNameAppearsAs || '',
    clientAddress: trace.connection.client.address,
    by: trace.hostname,
    protocol: trace.lmtp ? 'LMTP' : s?.secure ? 'ESMTPS' : 'ESMTP',
    id: s?.id ?? '',
    recipient,
    date: new Date(),
  });
}
