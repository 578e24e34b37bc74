import { type MessageOutcome, type RecipientOutcome, replyTexts } from '@homing/proxy-core';
import { replyText, type SmtpReply } from './reply.js';

/** What a refusal counts as in the recipient metrics; a message counts `unknown` as `refused`. */
export type RefusalOutcome = Exclude<RecipientOutcome, 'accepted'>;

/** A reply the proxy words itself: its code and its text, enhanced status (RFC 3463) first. */
export interface OwnReply {
  readonly code: number;
  readonly text: string;
  /** What it counts as in the metrics: rewording the text never changes a count. */
  readonly outcome: RefusalOutcome;
}

/**
 * Every reply the SMTP, LMTP and submission listeners word themselves, each written once, so
 * that one wording is used wherever the same thing happens. A backend's own replies are relayed
 * as they came (replyError) and are not here.
 */
export const smtpReplies = {
  noSuchUser: { code: 550, text: '5.1.1 No such user here', outcome: 'unknown' },
  // RFC 5321 §4.5.3.1.10: the sender delivers the rest in another transaction.
  tooManyRecipients: {
    code: 452,
    text: '4.5.3 Too many recipients for this transaction, send the rest separately',
    outcome: 'deferred',
  },
  directoryUnavailable: {
    code: 451,
    text: '4.4.3 Directory unavailable, try again later',
    outcome: 'deferred',
  },
  noDeliveryService: {
    code: 451,
    text: '4.3.5 Delivery is not configured for this recipient',
    outcome: 'deferred',
  },
  routingLoop: { code: 451, text: '4.4.6 Mail routing loop', outcome: 'deferred' },
  // RFC 3463 X.2.1 "mailbox disabled, not accepting messages": for the minutes of a move.
  userMoving: {
    code: 451,
    text: '4.2.1 Mailbox is being moved, try again later',
    outcome: 'deferred',
  },
  noAnswer: { code: 451, text: '4.4.2 No answer from the mailbox server', outcome: 'deferred' },
  mailboxServerUnavailable: {
    code: 451,
    text: '4.4.1 Mailbox server unavailable, try again later',
    outcome: 'deferred',
  },
  mailboxServerLost: {
    code: 451,
    text: '4.4.2 Connection to the mailbox server lost, try again later',
    outcome: 'deferred',
  },
  // RFC 6531 §3.6: the message cannot go on to a server without SMTPUTF8.
  noSmtpUtf8: {
    code: 553,
    text: '5.6.7 The mailbox server does not support SMTPUTF8',
    outcome: 'refused',
  },
  someRecipientsFailed: {
    code: 451,
    text: '4.3.0 Delivery failed for some recipients, try again later',
    outcome: 'deferred',
  },
  authFailed: { code: 535, text: '5.7.8 Authentication credentials invalid', outcome: 'refused' },
  authUnavailable: {
    code: 454,
    text: '4.7.0 Temporary authentication failure, try again later',
    outcome: 'deferred',
  },
  submissionNotConfigured: {
    code: 454,
    text: '4.7.0 Submission is not configured',
    outcome: 'deferred',
  },
  mailServerUnavailable: {
    code: 454,
    text: '4.7.0 Mail server unavailable, try again later',
    outcome: 'deferred',
  },
  mailServerLost: {
    code: 451,
    text: '4.4.2 Connection to the mail server lost, try again later',
    outcome: 'deferred',
  },
  // Said before the session starts, so written out whole (RFC 5321 §3.1: 421).
  blocked: {
    code: 421,
    text: '4.7.0 Too many connections or failed logins from your address, try again later',
    outcome: 'deferred',
  },
  busy: { code: 421, text: `4.3.2 ${replyTexts.busy}`, outcome: 'deferred' },
} satisfies Record<string, OwnReply>;

/** A message with more Received headers than allowed is looping (RFC 5321 §6.3). */
export function tooManyHops(maxReceived: number): OwnReply {
  return {
    code: 554,
    text: `5.4.6 Too many hops (more than ${maxReceived} Received headers)`,
    outcome: 'refused',
  };
}

/** An error whose code and text the session sends as they are. */
export class SmtpError extends Error {
  readonly responseCode: number;
  readonly outcome: RefusalOutcome;

  constructor(reply: OwnReply) {
    super(reply.text);
    this.responseCode = reply.code;
    this.outcome = reply.outcome;
  }
}

/** The reply as one line on the wire, for what is said before a session takes over. */
export function replyLine(reply: OwnReply): string {
  return `${reply.code} ${reply.text}`;
}

/** The error a session answers with the reply as it is. */
export function smtpError(reply: OwnReply): SmtpError {
  return new SmtpError(reply);
}

/**
 * Relays a backend's reply to the client: same code, same enhanced status and text. It counts
 * by its code and enhanced status (RFC 3463 §3.2: X.1.1, bad destination mailbox), not its words.
 */
export function replyError(reply: SmtpReply): SmtpError {
  const outcome =
    reply.code < 500
      ? 'deferred'
      : reply.code === 550 && reply.enhanced === '5.1.1'
        ? 'unknown'
        : 'refused';
  return new SmtpError({
    code: reply.code,
    text: replyText(reply, 'Error'),
    outcome,
  });
}

/** What a failed recipient counts as; an error that is no reply (a bug) as a temporary one. */
export function recipientOutcome(error: unknown): RefusalOutcome {
  return error instanceof SmtpError ? error.outcome : 'deferred';
}

/** What a refused message counts as: a message has no unknown recipient, only a refusal. */
export function messageOutcome(error: unknown): Exclude<MessageOutcome, 'accepted'> {
  const outcome = recipientOutcome(error);
  return outcome === 'unknown' ? 'refused' : outcome;
}
