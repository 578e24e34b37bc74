import { describe, expect, it } from 'vitest';
import { SmtpError } from '../src/reply.js';
import { smtpError, smtpReplies, tooManyHops } from '../src/smtp-replies.js';

describe('smtpReplies', () => {
  it('gives each reply an enhanced status of the same class as its code (RFC 3463)', () => {
    for (const reply of [...Object.values(smtpReplies), tooManyHops(30)]) {
      expect(reply.text).toMatch(/^[245]\.\d{1,3}\.\d{1,3} \S/);
      expect(reply.text[0]).toBe(String(reply.code)[0]);
    }
  });

  it('becomes the error smtp-server answers with as it is', () => {
    const error = smtpError(smtpReplies.authUnavailable);
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.responseCode).toBe(454);
    expect(error.message).toBe('4.7.0 Temporary authentication failure, try again later');
  });
});
