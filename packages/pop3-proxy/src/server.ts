import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { Pop3Session } from './session.js';

export type Pop3ListenerOptions = ProtocolListenerOptions;

/** Starts one POP3 listener; every connection becomes a Pop3Session. */
export function startPop3Listener(options: Pop3ListenerOptions): Promise<Server> {
  const refusal =
    '-ERR [SYS/TEMP] Too many connections or failed logins from your address, try again later.';
  return startProtocolListener(options, 'pop3', refusal, (connection) =>
    new Pop3Session(connection, options).start(),
  );
}
