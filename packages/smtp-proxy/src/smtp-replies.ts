import { SmtpError } from './reply.js';

/** A reply the proxy words itself: its code and its text, enhanced status (RFC 3463) first. */
export interface OwnReply {
  readonly code: number;
  readonly text: string;
}

/**
 * Every reply the SMTP, LMTP and submission listeners word themselves, each written once, so
 * that one wording is used wherever the same thing happens. A backend's own replies are relayed
 * as they came (replyError) and are not here.
 */
export const smtpReplies = {
  noSuchUser: { code: 550, text: '5.1.1 No such user here' },
  // RFC 5321 §4.5.3.1.10: the sender delivers the rest in another transaction.
  tooManyRecipients: {
    code: 452,
    text: '4.5.3 Too many recipients for this transaction, send the rest separately',
  },
  directoryUnavailable: { code: 451, text: '4.4.3 Directory unavailable, try again later' },
  noDeliveryService: { code: 451, text: '4.3.5 Delivery is not configured for this recipient' },
  routingLoop: { code: 451, text: '4.4.6 Mail routing loop' },
  // RFC 3463 X.2.1 "mailbox disabled, not accepting messages": for the minutes of a move.
  userMoving: { code: 451, text: '4.2.1 Mailbox is being moved, try again later' },
  noAnswer: { code: 451, text: '4.4.2 No answer from the mailbox server' },
  mailboxServerUnavailable: {
    code: 451,
    text: '4.4.1 Mailbox server unavailable, try again later',
  },
  mailboxServerLost: {
    code: 451,
    text: '4.4.2 Connection to the mailbox server lost, try again later',
  },
  // RFC 6531 §3.6: the message cannot go on to a server without SMTPUTF8.
  noSmtpUtf8: { code: 553, text: '5.6.7 The mailbox server does not support SMTPUTF8' },
  someRecipientsFailed: {
    code: 451,
    text: '4.3.0 Delivery failed for some recipients, try again later',
  },
  authFailed: { code: 535, text: '5.7.8 Authentication credentials invalid' },
  authUnavailable: {
    code: 454,
    text: '4.7.0 Temporary authentication failure, try again later',
  },
  submissionNotConfigured: { code: 454, text: '4.7.0 Submission is not configured' },
  mailServerUnavailable: { code: 454, text: '4.7.0 Mail server unavailable, try again later' },
  mailServerLost: { code: 451, text: '4.4.2 Connection to the mail server lost, try again later' },
} satisfies Record<string, OwnReply>;

/** A message with more Received headers than allowed is looping (RFC 5321 §6.3). */
export function tooManyHops(maxReceived: number): OwnReply {
  return { code: 554, text: `5.4.6 Too many hops (more than ${maxReceived} Received headers)` };
}

/** The error smtp-server answers with the reply as it is. */
export function smtpError(reply: OwnReply): SmtpError {
  return new SmtpError(reply.code, reply.text);
}
