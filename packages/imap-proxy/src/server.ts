import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { imapReplies, untagged } from './replies.js';
import { ImapSession } from './session.js';

export type ImapListenerOptions = ProtocolListenerOptions;

/** Starts one IMAP listener; every connection becomes an ImapSession. */
export function startImapListener(options: ImapListenerOptions): Promise<Server> {
  const refusal = untagged(imapReplies.blocked);
  return startProtocolListener(options, 'imap', refusal, (connection) =>
    new ImapSession(connection, options).start(),
  );
}
