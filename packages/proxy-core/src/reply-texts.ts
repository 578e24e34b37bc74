/**
 * The words the protocols' reply tables share, each written once: a table adds its protocol's
 * status and response code (POP3 `-ERR [SYS/TEMP]`, ManageSieve `NO (TRYLATER)`, IMAP's
 * `NO [UNAVAILABLE]`). IMAP's own style (no final period) keeps most of its words apart.
 */
export const replyTexts = {
  authFailed: 'Authentication failed.',
  unavailable: 'Temporary failure, try again later.',
  tooManySessions: 'Too many sessions for this user.',
  unsupportedMechanism: 'Unsupported authentication mechanism.',
  plaintextDisallowed: 'Plaintext authentication disallowed on non-secure connections.',
  authCancelled: 'Authentication cancelled.',
  badBase64: 'Invalid base64 data in authentication response.',
  malformedPlain: 'Malformed PLAIN response.',
  unknownCommand: 'Unknown command, or not valid before login.',
  tooManyCommands: 'Too many commands before login.',
  idle: 'Disconnected for inactivity.',
  authTimeout: 'Disconnected: authentication took too long.',
  kicked: 'Disconnected by the administrator.',
  shutdown: 'Server shutting down, please reconnect.',
  internalError: 'Internal error.',
  blocked: 'Too many connections or failed logins from your address, try again later.',
  // Said before any login when this node is full, so that clients and balancers retry elsewhere.
  busy: 'This server is busy, try again later',
} as const;

/** A line that is no command, and why. */
export function invalidCommandText(reason: string): string {
  return `Invalid command: ${reason}.`;
}
