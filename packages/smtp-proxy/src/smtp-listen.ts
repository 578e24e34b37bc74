import type { Server } from 'node:net';
import { type ClientConnection, listenWithRefusals } from '@homing/proxy-core';
import type { Logger } from 'pino';
import type { SmtpListenerOptions } from './server.js';
import { replyLine, smtpReplies } from './smtp-replies.js';

/** SMTP's words for a blocked address and a full node, said before the session starts. */
const refusals = { refusal: replyLine(smtpReplies.blocked), busy: replyLine(smtpReplies.busy) };

/** Listens as an SMTP listener of any kind; each accepted connection goes to `onConnection`. */
export function listenSmtp(
  options: SmtpListenerOptions,
  log: Logger,
  onConnection: (connection: ClientConnection) => void,
): Promise<Server> {
  return listenWithRefusals(options, refusals, log, onConnection);
}
