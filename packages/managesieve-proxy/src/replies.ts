import {
  invalidCommandText,
  type LoginOutcome,
  type SaslRefusal,
  replyTexts as t,
} from '@homing/proxy-core';
import { quoted } from './command.js';

/** A response the proxy words itself (RFC 5804 §1.3): status, response code, quoted text. */
export interface SieveReply {
  readonly status: 'OK' | 'NO' | 'BYE';
  /** The response code without parentheses, e.g. `TRYLATER`. */
  readonly code: string | undefined;
  readonly text: string;
  /** What the login path counted when this reply answers a login. */
  readonly outcome: LoginOutcome | undefined;
  /** The line as it goes on the wire, made once. */
  readonly line: string;
}

function reply(
  status: SieveReply['status'],
  text: string,
  code?: string,
  outcome?: LoginOutcome,
): SieveReply {
  const line = `${status}${code === undefined ? '' : ` (${code})`} ${quoted(text)}`;
  return { status, code, text, outcome, line };
}

/**
 * The one mapping from what went wrong to ManageSieve's reply (RFC 5804 §1.3): the client's
 * error and a command we cannot read are NO (the protocol has no BAD); trouble on our side that
 * passes is NO (TRYLATER); BYE closes the connection, with TRYLATER when it is ours.
 */
const ok = (text: string) => reply('OK', text);
const userError = (text: string, code?: string, outcome?: LoginOutcome) =>
  reply('NO', text, code, outcome);
const serverError = (text: string, outcome?: LoginOutcome) =>
  reply('NO', text, 'TRYLATER', outcome);
const syntaxError = (text: string) => reply('NO', text);
const bye = (text: string, code?: 'TRYLATER') => reply('BYE', text, code);

/** Every reply the ManageSieve listener words itself, each once; a backend's pass as they came. */
export const sieveReplies = {
  greeting: ok('homing ManageSieve ready.'),
  capabilityDone: ok('Capability completed.'),
  capabilityArguments: syntaxError('CAPABILITY takes no arguments.'),
  noopDone: ok('NOOP completed.'),
  noopArguments: syntaxError('NOOP takes at most one argument.'),
  logoutDone: ok('Logout completed.'),
  beginTls: ok('Begin TLS negotiation now.'),
  tlsDone: ok('TLS negotiation successful.'),
  noStartTls: syntaxError('STARTTLS not available.'),
  startTlsArguments: syntaxError('STARTTLS takes no arguments.'),
  authenticateSyntax: syntaxError('Syntax: AUTHENTICATE mechanism [initial-response].'),
  unsupportedMechanism: userError(t.unsupportedMechanism),
  // RFC 5804 §1.3: ENCRYPT-NEEDED says STARTTLS first.
  plaintextDisallowed: userError(t.plaintextDisallowed, 'ENCRYPT-NEEDED'),
  saslAnswerExpected: syntaxError('Expected a string answering the challenge.'),
  authCancelled: syntaxError(t.authCancelled), // RFC 5804 §2.1
  badBase64: syntaxError(t.badBase64),
  malformedPlain: syntaxError(t.malformedPlain),
  // RFC 5804 §1.3: a failed login is a bare NO.
  authFailed: userError(t.authFailed, undefined, 'failed'),
  unavailable: serverError(t.unavailable, 'unavailable'),
  tooManySessions: serverError(t.tooManySessions),
  unknownCommand: syntaxError(t.unknownCommand),
  tooManyCommands: bye(t.tooManyCommands),
  idle: bye(t.idle),
  authTimeout: bye(t.authTimeout),
  kicked: bye(t.kicked, 'TRYLATER'),
  shutdown: bye(t.shutdown, 'TRYLATER'),
  internalError: bye(t.internalError, 'TRYLATER'),
  // RFC 5804 §1.3: BYE ends the connection; TRYLATER says it is worth coming back.
  blocked: bye(t.blocked, 'TRYLATER'),
  busy: bye(t.busy, 'TRYLATER'),
} satisfies Record<string, SieveReply>;

/** A line that is no command (RFC 5804 §4). */
export function invalidCommand(reason: string): SieveReply {
  return syntaxError(invalidCommandText(reason));
}

/** A line the reader gives up on: the connection closes with the reason. */
export function fatal(reason: string): SieveReply {
  return bye(reason);
}

/** NOOP's string comes back as the TAG response code (RFC 5804 §2.13). */
export function noopTagged(tag: string): string {
  return `OK (TAG ${quoted(tag)}) "Done."`;
}

export const saslErrors: Record<SaslRefusal, SieveReply> = {
  cancelled: sieveReplies.authCancelled,
  'bad-base64': sieveReplies.badBase64,
  malformed: sieveReplies.malformedPlain,
};
