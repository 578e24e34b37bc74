import type { LoginOutcome, SaslStep } from '@homing/proxy-core';
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
  unsupportedMechanism: userError('Unsupported authentication mechanism.'),
  // RFC 5804 §1.3: ENCRYPT-NEEDED says STARTTLS first.
  plaintextDisallowed: userError(
    'Plaintext authentication disallowed on non-secure connections.',
    'ENCRYPT-NEEDED',
  ),
  saslAnswerExpected: syntaxError('Expected a string answering the challenge.'),
  authCancelled: syntaxError('Authentication cancelled.'), // RFC 5804 §2.1
  badBase64: syntaxError('Invalid base64 data in authentication response.'),
  malformedPlain: syntaxError('Malformed PLAIN response.'),
  // RFC 5804 §1.3: a failed login is a bare NO.
  authFailed: userError('Authentication failed.', undefined, 'failed'),
  unavailable: serverError('Temporary failure, try again later.', 'unavailable'),
  tooManySessions: serverError('Too many sessions for this user.'),
  unknownCommand: syntaxError('Unknown command, or not valid before login.'),
  tooManyCommands: bye('Too many commands before login.'),
  idle: bye('Disconnected for inactivity.'),
  authTimeout: bye('Disconnected: authentication took too long.'),
  kicked: bye('Disconnected by the administrator.', 'TRYLATER'),
  shutdown: bye('Server shutting down, please reconnect.', 'TRYLATER'),
  internalError: bye('Internal error.', 'TRYLATER'),
  // RFC 5804 §1.3: BYE ends the connection; TRYLATER says it is worth coming back.
  blocked: bye(
    'Too many connections or failed logins from your address, try again later.',
    'TRYLATER',
  ),
} satisfies Record<string, SieveReply>;

/** A line that is no command (RFC 5804 §4). */
export function invalidCommand(reason: string): SieveReply {
  return syntaxError(`Invalid command: ${reason}.`);
}

/** A line the reader gives up on: the connection closes with the reason. */
export function fatal(reason: string): SieveReply {
  return bye(reason);
}

/** NOOP's string comes back as the TAG response code (RFC 5804 §2.13). */
export function noopTagged(tag: string): string {
  return `OK (TAG ${quoted(tag)}) "Done."`;
}

/** A SASL response that is no answer: the client's syntax, not its credentials. */
export const saslErrors: Record<
  Exclude<SaslStep['kind'], 'credentials' | 'no-user'>,
  SieveReply
> = {
  cancelled: sieveReplies.authCancelled,
  'bad-base64': sieveReplies.badBase64,
  malformed: sieveReplies.malformedPlain,
};
