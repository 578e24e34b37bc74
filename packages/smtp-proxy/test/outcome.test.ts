import { describe, expect, it } from 'vitest';
import {
  type BackendAnswer,
  perRecipientReplies,
  type SingleReply,
  singleReply,
} from '../src/outcome.js';
import type { SmtpReply } from '../src/reply.js';
import { SmtpError } from '../src/smtp-replies.js';

function reply(code: number, enhanced: string | undefined, text: string): SmtpReply {
  return { code, enhanced, lines: [text] };
}

const ok = reply(250, '2.0.0', 'Ok: queued as A1');
const okOther = reply(250, '2.0.0', 'Ok: queued as B2');
const okPlain = reply(250, undefined, 'Saved');
const quota = reply(552, '5.2.2', 'Mailbox full');
const unknown = reply(550, '5.1.1', 'No such user');
const busy = reply(451, '4.3.0', 'Try later');
const lost = undefined;

/** The client-visible part of a decision: kind, and the reply code and text. */
function shown(result: SingleReply): [string, number, string] {
  return result.kind === 'delivered'
    ? [result.kind, 250, result.text]
    : [result.kind, result.error.responseCode, result.error.message];
}

describe('singleReply', () => {
  const retryLost = '4.4.2 Connection to the mailbox server lost, try again later';
  const retrySome = '4.3.0 Delivery failed for some recipients, try again later';
  const cases: [string, BackendAnswer[], [string, number, string]][] = [
    ['one 250', [ok], ['delivered', 250, '2.0.0 Ok: queued as A1']],
    ['the same 250 twice: said once', [ok, ok], ['delivered', 250, '2.0.0 Ok: queued as A1']],
    [
      'different 250s: joined',
      [ok, okOther, okPlain],
      [
        'delivered',
        250,
        '2.0.0 Ok: delivered (2.0.0 Ok: queued as A1; 2.0.0 Ok: queued as B2; Saved)',
      ],
    ],
    ['one 5xx', [unknown], ['refused', 550, '5.1.1 No such user']],
    ['all 5xx: the first', [quota, unknown], ['refused', 552, '5.2.2 Mailbox full']],
    ['a 4xx alone', [busy], ['retry', 451, retrySome]],
    ['250 and 5xx', [ok, quota], ['retry', 451, retrySome]],
    ['5xx and 4xx', [quota, busy], ['retry', 451, retrySome]],
    ['250 and lost', [ok, lost], ['retry', 451, retryLost]],
    ['5xx and lost', [unknown, lost], ['retry', 451, retryLost]],
    ['all lost', [lost, lost], ['retry', 451, retryLost]],
  ];
  it.each(cases)('%s', (_name, outcomes, expected) => {
    expect(shown(singleReply(outcomes))).toEqual(expected);
  });
});

describe('perRecipientReplies', () => {
  it('answers each recipient with its own backend reply, in order', () => {
    const replies = perRecipientReplies([ok, unknown, lost, busy]);
    expect(replies.map((r) => (r instanceof SmtpError ? [r.responseCode, r.message] : r))).toEqual([
      '2.0.0 Ok: queued as A1',
      [550, '5.1.1 No such user'],
      [451, '4.4.2 Connection to the mailbox server lost, try again later'],
      [451, '4.3.0 Try later'],
    ]);
  });
});
