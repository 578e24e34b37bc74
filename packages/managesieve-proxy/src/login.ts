import {
  type Cancellation,
  forwardClient,
  type LoginDialect,
  plainReplay,
  type Replay,
  type ReplayVerdict,
} from '@homing/proxy-core';
import { SieveBackend } from './backend.js';
import type { BackendExtensions } from './capabilities.js';
import type { SieveLine } from './response.js';

export type SieveResponse = Extract<SieveLine, { kind: 'response' }>;

/**
 * ManageSieve's part of the one login path: greeting, STARTTLS, XCLIENT and the replayed
 * AUTHENTICATE. Every login tells `extensions` what that backend's Sieve supports.
 */
export function sieveDialect(
  extensions: BackendExtensions,
): LoginDialect<SieveBackend, SieveResponse, undefined> {
  return {
    protocol: 'managesieve',
    async greet(socket, tls, endpoint, limits, signal) {
      const session = new SieveBackend(socket, limits.lineBytes);
      if (!(await session.greeting(signal))) throw new Error('backend greeting is not OK');
      if (endpoint.tls === 'starttls' && !(await session.startTls(tls, signal))) {
        throw new Error('backend refused STARTTLS');
      }
      return session;
    },
    async replay(session, login, signal): Promise<ReplayVerdict<SieveResponse>> {
      extensions.heard(login.route.backend.name, session.capabilities);
      if (login.endpoint.forward === 'xclient') {
        await forwardClient(login.connection, session.capabilities.has('XCLIENT'), async (f) => {
          const reply = await session.xclient(f, signal);
          return reply.status === 'OK' ? undefined : reply.raw.toString('utf8');
        });
      }
      const reply = await replay(session, login, signal);
      if (reply.status === 'OK') return { kind: 'ok', reply };
      // RFC 5804 §1.3: TRYLATER is the server's trouble; a bare NO is the credentials.
      if (reply.code === 'TRYLATER') return { kind: 'unavailable', reason: reply.text };
      return reply.code === undefined && reply.status === 'NO'
        ? { kind: 'rejected', detail: reply.text }
        : { kind: 'refused', reply, detail: reply.raw.toString('utf8') };
    },
  };
}

function replay(
  session: SieveBackend,
  login: Replay<undefined>,
  signal: Cancellation,
): Promise<SieveResponse> {
  const { credentials } = login;
  const plain = plainReplay(login);
  if (plain) return session.authenticate('PLAIN', plain, signal);
  switch (credentials.mechanism) {
    case 'XOAUTH2':
    case 'OAUTHBEARER':
      // The token names the user as the client wrote it; the backend checks both. An error
      // challenge gets the dummy answer RFC 7628 §3.2.3 asks for, then NO follows.
      return session.authenticate(credentials.mechanism, credentials.response, signal, () =>
        credentials.mechanism === 'OAUTHBEARER' ? 'AQ==' : '',
      );
    default:
      throw new Error(`no ManageSieve replay for ${credentials.mechanism}`);
  }
}
