import type { Server } from 'node:net';
import { type ClientConnection, listen } from '@homing/proxy-core';
import type { Logger } from 'pino';
import type { SmtpListenerOptions } from './server.js';
import { replyLine, smtpReplies } from './smtp-replies.js';

/** Listens as an SMTP listener of any kind: SMTP's refusal and busy replies, the listener's limits. */
export function listenSmtp(
  options: SmtpListenerOptions,
  log: Logger,
  onConnection: (connection: ClientConnection) => void,
): Promise<Server> {
  return listen({
    spec: options.spec,
    tls: options.tls,
    limits: options.limits,
    metrics: options.metrics,
    get guard() {
      return options.guard;
    },
    refusal: replyLine(smtpReplies.blocked),
    admission: options.admission,
    busy: replyLine(smtpReplies.busy),
    log,
    onConnection,
  });
}
