import type { Logger } from 'pino';
import type { BackendAnswer } from './outcome.js';
import { isPositive, replyText } from './reply.js';

/** One recipient of a message, as the log names it. */
export interface LoggedRecipient {
  readonly address: string;
  readonly backend: string;
}

/**
 * Where message lines go: the listener's logger without redaction (none of the line's fields
 * can hold a secret, and redaction cost more than the line), with the fields the session's
 * logger would add.
 */
export interface MessageLog {
  readonly log: Logger;
  readonly sid: string;
  readonly client: string;
}

/**
 * One line per message, as a mail operator looks for it: the sender, its size, and each
 * recipient with its mailbox server and that server's reply (with its queue id).
 */
export function logMessage(
  { log, sid, client }: MessageLog,
  from: string,
  size: number,
  recipients: readonly LoggedRecipient[],
  outcomes: readonly BackendAnswer[],
): void {
  const taken = outcomes.filter((r) => r && isPositive(r)).length;
  const result =
    taken === outcomes.length
      ? 'delivered'
      : taken > 0
        ? 'delivered to some recipients'
        : outcomes.every((r) => r && r.code >= 500)
          ? 'refused'
          : 'deferred';
  const rcpts = recipients.map((rcpt, i) => {
    const reply = outcomes[i];
    return {
      to: rcpt.address,
      backend: rcpt.backend,
      reply: reply ? `${reply.code} ${replyText(reply)}` : 'connection lost',
    };
  });
  const level = result === 'delivered' || result === 'refused' ? 'info' : 'warn';
  log[level]({ sid, client, from, size, rcpts }, `message ${result}`);
}
