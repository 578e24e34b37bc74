import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { pop3Replies } from './replies.js';
import { Pop3Session } from './session.js';

export type Pop3ListenerOptions = ProtocolListenerOptions;

const refusals = { refusal: pop3Replies.blocked.line, busy: pop3Replies.busy.line };

/** Starts one POP3 listener; every connection becomes a Pop3Session. */
export function startPop3Listener(options: Pop3ListenerOptions): Promise<Server> {
  return startProtocolListener(options, 'pop3', refusals, (connection) =>
    new Pop3Session(connection, options).start(),
  );
}
