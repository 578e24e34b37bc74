import type { SessionProtocol } from './sessions.js';

/**
 * The line a client gets when this node is full, before any login: each protocol's way of
 * saying "temporary, try again (elsewhere)", so that clients and balancers retry.
 */
const BUSY: Record<SessionProtocol, string> = {
  imap: '* BYE [UNAVAILABLE] This server is busy, try again later',
  pop3: '-ERR [SYS/TEMP] This server is busy, try again later.',
  smtp: '421 4.3.2 This server is busy, try again later',
  lmtp: '421 4.3.2 This server is busy, try again later',
  submission: '421 4.3.2 This server is busy, try again later',
  // RFC 5804 §1.3: TRYLATER, a temporary condition.
  managesieve: 'BYE (TRYLATER) "This server is busy, try again later"',
};

export function busyReply(protocol: SessionProtocol): string {
  return BUSY[protocol];
}
