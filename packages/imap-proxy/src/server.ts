import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { imapReplies, untagged } from './replies.js';
import { ImapSession } from './session.js';

export type ImapListenerOptions = ProtocolListenerOptions;

const refusals = { refusal: untagged(imapReplies.blocked), busy: untagged(imapReplies.busy) };

/** Starts one IMAP listener; every connection becomes an ImapSession. */
export function startImapListener(options: ImapListenerOptions): Promise<Server> {
  return startProtocolListener(options, 'imap', refusals, (connection) =>
    new ImapSession(connection, options).start(),
  );
}
