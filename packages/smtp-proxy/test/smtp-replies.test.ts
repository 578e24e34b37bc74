import { describe, expect, it } from 'vitest';
import type { SmtpReply } from '../src/reply.js';
import {
  messageOutcome,
  recipientOutcome,
  replyError,
  replyLine,
  SmtpError,
  smtpError,
  smtpReplies,
  tooManyHops,
} from '../src/smtp-replies.js';

const backend = (code: number, enhanced: string | undefined, text: string): SmtpReply => ({
  code,
  enhanced,
  lines: [text],
});

describe('smtpReplies', () => {
  it('gives each reply an enhanced status of the same class as its code (RFC 3463)', () => {
    for (const reply of [...Object.values(smtpReplies), tooManyHops(30)]) {
      expect(reply.text).toMatch(/^[245]\.\d{1,3}\.\d{1,3} \S/);
      expect(reply.text[0]).toBe(String(reply.code)[0]);
    }
  });

  it('counts a temporary reply as deferred and a permanent one as refused or unknown', () => {
    for (const reply of [...Object.values(smtpReplies), tooManyHops(30)]) {
      const expected = reply.code < 500 ? ['deferred'] : ['refused', 'unknown'];
      expect(expected).toContain(reply.outcome);
    }
    expect(smtpReplies.noSuchUser.outcome).toBe('unknown');
  });

  it('turns a client away before its session in the words it had', () => {
    expect(replyLine(smtpReplies.busy)).toBe('421 4.3.2 This server is busy, try again later');
    expect(replyLine(smtpReplies.blocked)).toBe(
      '421 4.7.0 Too many connections or failed logins from your address, try again later',
    );
  });

  it('becomes the error the session answers with as it is', () => {
    const error = smtpError(smtpReplies.authUnavailable);
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.responseCode).toBe(454);
    expect(error.message).toBe('4.7.0 Temporary authentication failure, try again later');
    expect(error.outcome).toBe('deferred');
  });
});

describe('replyError', () => {
  it('relays the backend reply with its code and enhanced status', () => {
    const error = replyError(backend(552, '5.2.2', 'Mailbox full'));
    expect([error.responseCode, error.message]).toEqual([552, '5.2.2 Mailbox full']);
    expect(replyError(backend(554, undefined, '')).message).toBe('Error');
  });

  it('counts by code and enhanced status, whatever the words', () => {
    const outcomes = [
      backend(550, '5.1.1', 'User unknown in virtual mailbox table'),
      backend(550, '5.1.1', 'no such mailbox, reworded'),
      backend(550, '5.1.10', 'Recipient address has null MX'),
      backend(550, undefined, '5.1.1 is only words here'),
      backend(554, '5.7.1', 'Relay access denied'),
      backend(450, '4.2.0', 'Mailbox busy'),
    ].map((r) => recipientOutcome(replyError(r)));
    expect(outcomes).toEqual(['unknown', 'unknown', 'refused', 'refused', 'refused', 'deferred']);
  });
});

describe('the outcome an error counts as', () => {
  it('counts an unknown recipient as a refused message', () => {
    const unknown = smtpError(smtpReplies.noSuchUser);
    expect(recipientOutcome(unknown)).toBe('unknown');
    expect(messageOutcome(unknown)).toBe('refused');
    expect(messageOutcome(smtpError(tooManyHops(30)))).toBe('refused');
  });

  it('counts an error that is no reply as temporary', () => {
    expect(recipientOutcome(new Error('bug'))).toBe('deferred');
    expect(messageOutcome(new Error('bug'))).toBe('deferred');
  });
});
