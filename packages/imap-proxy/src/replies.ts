import { type LoginOutcome, type SaslRefusal, replyTexts as t } from '@homing/proxy-core';

/** A status response the proxy words itself (RFC 9051 §7.1), without its tag. */
export interface ImapReply {
  readonly status: 'OK' | 'NO' | 'BAD' | 'BYE';
  /** The response code without brackets (RFC 9051 §7.1), e.g. `UNAVAILABLE`. */
  readonly code: string | undefined;
  readonly text: string;
  /** What the login path counted when this reply answers a login. */
  readonly outcome: LoginOutcome | undefined;
  /** Status, code and text as they go on the wire, made once. */
  readonly line: string;
}

function reply(
  status: ImapReply['status'],
  text: string,
  code?: string,
  outcome?: LoginOutcome,
): ImapReply {
  const line = `${status}${code === undefined ? '' : ` [${code}]`} ${text}`;
  return { status, code, text, outcome, line };
}

/**
 * The one mapping from what went wrong to IMAP's reply, as mox does it: the client's error is
 * NO, trouble on our side that passes is NO [UNAVAILABLE] (RFC 5530 §3), a command we cannot
 * read is BAD; BYE closes the connection.
 */
const ok = (text: string) => reply('OK', text);
const userError = (text: string, code?: string, outcome?: LoginOutcome) =>
  reply('NO', text, code, outcome);
const serverError = (text: string, code = 'UNAVAILABLE', outcome?: LoginOutcome) =>
  reply('NO', text, code, outcome);
const syntaxError = (text: string, code?: string) => reply('BAD', text, code);
const bye = (text: string, code?: string) => reply('BYE', text, code);

/** Every reply the IMAP listener words itself, each once; a backend's are relayed as they came. */
export const imapReplies = {
  capabilityDone: ok('CAPABILITY completed'),
  noopDone: ok('NOOP completed'),
  idDone: ok('ID completed'),
  loggingOut: bye('Logging out'),
  logoutDone: ok('LOGOUT completed'),
  beginTls: ok('Begin TLS negotiation now'),
  noStartTls: syntaxError('STARTTLS not available'),
  loginArguments: syntaxError('LOGIN needs a user name and a password'),
  // RFC 9051 §7.1: PRIVACYREQUIRED, the operation needs TLS first.
  loginNeedsTls: userError('Plaintext login is disabled before STARTTLS.', 'PRIVACYREQUIRED'),
  authenticateNeedsTls: userError('Authentication is disabled before STARTTLS.', 'PRIVACYREQUIRED'),
  unsupportedMechanism: userError('Unsupported authentication mechanism'),
  authCancelled: syntaxError('Authentication cancelled'),
  badBase64: syntaxError('Invalid base64 in authentication response'),
  malformedPlain: syntaxError('Malformed PLAIN response'),
  authFailed: userError(t.authFailed, 'AUTHENTICATIONFAILED', 'failed'),
  unavailable: serverError(t.unavailable, 'UNAVAILABLE', 'unavailable'),
  tooManySessions: serverError('Too many sessions for this user', 'LIMIT'),
  unknownCommand: syntaxError('Command unknown or not valid before login'),
  tooManyCommands: bye('Too many commands before login'),
  closing: bye('Closing connection'),
  idle: bye('Autologout; idle for too long'),
  authTimeout: bye('Autologout; authentication took too long'),
  kicked: bye('Disconnected by the administrator'),
  shutdown: bye('Server shutting down, please reconnect'),
  internalError: bye('Internal error'),
  blocked: bye(
    'Too many connections or failed logins from your address, try again later',
    'UNAVAILABLE',
  ),
  busy: bye(t.busy, 'UNAVAILABLE'),
} satisfies Record<string, ImapReply>;

/** RFC 9051 §7.1.1: the greeting carries the capabilities, so that clients need not ask. */
export function greeting(capabilities: string): string {
  return `* OK [CAPABILITY ${capabilities}] homing ready.`;
}

/** A command the reader could not read (RFC 9051 §7.1.5). */
export function commandError(message: string): ImapReply {
  return syntaxError(`Error in IMAP command: ${message}`);
}

/** A line or literal over its limit (RFC 7889 §4: TOOBIG). */
export function tooBig(message: string): ImapReply {
  return syntaxError(message.charAt(0).toUpperCase() + message.slice(1), 'TOOBIG');
}

export const saslErrors: Record<SaslRefusal, ImapReply> = {
  cancelled: imapReplies.authCancelled,
  'bad-base64': imapReplies.badBase64,
  malformed: imapReplies.malformedPlain,
};

export function tagged(tag: string, reply: ImapReply): string {
  return `${tag} ${reply.line}`;
}

export function untagged(reply: ImapReply): string {
  return `* ${reply.line}`;
}
