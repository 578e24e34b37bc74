import type { Logger } from 'pino';
import type { BackendAnswer } from './outcome.js';
import { isPositive, replyText } from './reply.js';

/** One recipient of a message, as the log names it. */
export interface LoggedRecipient {
  readonly address: string;
  readonly backend: string;
}

/**
 * One line per message, as a mail operator looks for it: the sender, its size, and each
 * recipient with its mailbox server and that server's reply (with its queue id).
 */
export function logMessage(
  log: Logger,
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
  log[level]({ from, size, rcpts }, `message ${result}`);
}
