import {
  invalidCommandText,
  type LoginOutcome,
  type SaslRefusal,
  replyTexts as t,
} from '@homing/proxy-core';

/** A status line the proxy words itself (RFC 1939 §3), with its response code (RFC 2449 §8). */
export interface Pop3OwnReply {
  readonly status: '+OK' | '-ERR';
  /** The response code without brackets, e.g. `SYS/TEMP` (RFC 3206). */
  readonly code: string | undefined;
  readonly text: string;
  /** What the login path counted when this reply answers a login. */
  readonly outcome: LoginOutcome | undefined;
  /** The line as it goes on the wire, made once. */
  readonly line: string;
}

function reply(
  status: Pop3OwnReply['status'],
  text: string,
  code?: string,
  outcome?: LoginOutcome,
): Pop3OwnReply {
  const line = [status, code === undefined ? undefined : `[${code}]`, text]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
  return { status, code, text, outcome, line };
}

/**
 * The one mapping from what went wrong to POP3's reply: every error is -ERR; trouble on our side
 * that passes says [SYS/TEMP] (RFC 3206 §4), bad credentials [AUTH]; a line we cannot read is a
 * bare -ERR, as POP3 has no BAD.
 */
const ok = (text: string) => reply('+OK', text);
const userError = (text: string, code?: string, outcome?: LoginOutcome) =>
  reply('-ERR', text, code, outcome);
const serverError = (text: string, code = 'SYS/TEMP', outcome?: LoginOutcome) =>
  reply('-ERR', text, code, outcome);
const syntaxError = (text: string) => reply('-ERR', text);

/** Every reply the POP3 listener words itself, each once; a backend's are relayed as they came. */
export const pop3Replies = {
  greeting: ok('homing POP3 ready.'),
  capabilities: ok('Capability list follows'),
  userTaken: ok(''),
  loggingOut: ok('Logging out.'),
  beginTls: ok('Begin TLS negotiation.'),
  noStls: syntaxError('STLS not available.'),
  stlsArgument: syntaxError('STLS takes no argument.'),
  userArgument: syntaxError('USER needs a user name.'),
  passWithoutUser: syntaxError('No user name given: USER first.'),
  passArgument: syntaxError('PASS needs a password.'),
  authSyntax: syntaxError('Syntax: AUTH mechanism [initial-response].'),
  unsupportedMechanism: userError(t.unsupportedMechanism),
  // RFC 2595 §2.4: a server must be able to refuse plaintext passwords before TLS.
  plaintextDisallowed: userError(t.plaintextDisallowed, 'AUTH'),
  authCancelled: syntaxError(t.authCancelled), // RFC 5034 §4
  badBase64: syntaxError(t.badBase64),
  malformedPlain: syntaxError(t.malformedPlain),
  authFailed: userError(t.authFailed, 'AUTH', 'failed'),
  unavailable: serverError(t.unavailable, 'SYS/TEMP', 'unavailable'),
  // RFC 2449 §8.1.2: IN-USE, the mailbox is busy elsewhere.
  tooManySessions: serverError(t.tooManySessions, 'IN-USE'),
  lineTooLong: syntaxError('Line too long.'),
  unknownCommand: syntaxError(t.unknownCommand),
  tooManyCommands: userError(t.tooManyCommands),
  idle: userError(t.idle),
  authTimeout: userError(t.authTimeout),
  kicked: serverError(t.kicked),
  shutdown: serverError(t.shutdown),
  internalError: serverError(t.internalError),
  blocked: serverError(t.blocked),
  busy: serverError(`${t.busy}.`),
} satisfies Record<string, Pop3OwnReply>;

/** A command line that is no command (RFC 1939 §3). */
export function invalidCommand(reason: string): Pop3OwnReply {
  return syntaxError(invalidCommandText(reason));
}

export const saslErrors: Record<SaslRefusal, Pop3OwnReply> = {
  cancelled: pop3Replies.authCancelled,
  'bad-base64': pop3Replies.badBase64,
  malformed: pop3Replies.malformedPlain,
};
