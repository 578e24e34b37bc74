import type { LoginAnswers, PreloginTexts } from './prelogin-session.js';

/** A reply as a protocol's table holds it: at least its line on the wire. */
export interface NamedLine {
  readonly line: string;
}

/**
 * The replies every protocol's table names alike: its words at the moments every session has,
 * and its answers to the login path's failures.
 */
export type SessionReplies<L extends NamedLine = NamedLine> = Record<
  keyof PreloginTexts | 'authFailed' | 'unavailable' | 'tooManySessions',
  L
>;

/** The session's moments in the protocol's words; IMAP writes them untagged. */
export function preloginTexts<L extends NamedLine>(
  replies: SessionReplies<L>,
  format: (reply: L) => string = (reply) => reply.line,
): PreloginTexts {
  return {
    idle: format(replies.idle),
    authTimeout: format(replies.authTimeout),
    kicked: format(replies.kicked),
    shutdown: format(replies.shutdown),
    internalError: format(replies.internalError),
  };
}

const CRLF = Buffer.from('\r\n');

/**
 * The login answers of a protocol whose backend answers a login with one line that is passed on
 * as it came (POP3, ManageSieve): its refusal (`-ERR [IN-USE]`), or its welcome and whatever
 * followed it before the splice.
 */
export function relayedAnswers(
  replies: SessionReplies,
): LoginAnswers<{ detach(): Buffer }, { readonly raw: Buffer }> {
  return {
    failed: replies.authFailed.line,
    unavailable: replies.unavailable.line,
    limit: replies.tooManySessions.line,
    refused: (reply) => Buffer.concat([reply.raw, CRLF]),
    welcome: (session, reply) => [reply.raw, CRLF, session.detach()],
  };
}
