import { isPositive, replyText, type SmtpReply } from './reply.js';
import { replyError, type SmtpError, smtpError, smtpReplies } from './smtp-replies.js';

/**
 * One backend's answer to DATA for one recipient; undefined when the connection to that backend
 * was lost before it answered.
 */
export type BackendAnswer = SmtpReply | undefined;

/** What an SMTP client is told when its message reached all, none or some of the recipients. */
export type SingleReply =
  | { readonly kind: 'delivered'; readonly text: string }
  /** Every recipient refused it for good: the first refusal is relayed as it is. */
  | { readonly kind: 'refused'; readonly error: SmtpError }
  /** Anything else (a temporary failure, a lost backend, a mix): the sender is to try again. */
  | { readonly kind: 'retry'; readonly error: SmtpError };

export function lostConnection(): SmtpError {
  return smtpError(smtpReplies.mailboxServerLost);
}

/** LMTP (RFC 2033 §4.2): one reply per recipient, in the client's order. */
export function perRecipientReplies(outcomes: readonly BackendAnswer[]): (string | Error)[] {
  const lost = lostConnection();
  return outcomes.map((r) => (!r ? lost : isPositive(r) ? replyText(r) : replyError(r)));
}

/** SMTP has one reply for the whole message: 250 only when every recipient's backend said so. */
export function singleReply(outcomes: readonly BackendAnswer[]): SingleReply {
  if (outcomes.every((r) => r && isPositive(r))) {
    const texts = [...new Set(outcomes.map((r) => replyText(r as SmtpReply)))];
    const text =
      texts.length === 1 ? (texts[0] as string) : `2.0.0 Ok: delivered (${texts.join('; ')})`;
    return { kind: 'delivered', text };
  }
  const failures = outcomes.filter((r) => !r || !isPositive(r));
  const permanent = failures.every((r) => r && r.code >= 500);
  if (permanent && failures.length === outcomes.length) {
    return { kind: 'refused', error: replyError(failures[0] as SmtpReply) };
  }
  // The sender tries all again: with the MX's journal the retry reaches only those still
  // without it; without one, those that took it get a second copy, which is better than losing
  // mail for the others (no bounce is made here: nothing spools).
  const error = failures.some((r) => !r)
    ? lostConnection()
    : smtpError(smtpReplies.someRecipientsFailed);
  return { kind: 'retry', error };
}
