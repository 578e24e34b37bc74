import { describe, expect, it } from 'vitest';
import { invalidCommand, pop3Replies, saslErrors } from '../src/replies.js';

describe('pop3Replies', () => {
  it('puts status, response code and text on the wire as RFC 1939 and RFC 2449 write them', () => {
    expect(pop3Replies.authFailed.line).toBe('-ERR [AUTH] Authentication failed.');
    expect(pop3Replies.unavailable.line).toBe(
      '-ERR [SYS/TEMP] Temporary failure, try again later.',
    );
    expect(pop3Replies.userTaken.line).toBe('+OK');
    expect(invalidCommand('no verb').line).toBe('-ERR Invalid command: no verb.');
  });

  it('turns a client away before its session in the words it had', () => {
    expect(pop3Replies.busy.line).toBe('-ERR [SYS/TEMP] This server is busy, try again later.');
    expect(pop3Replies.blocked.line).toBe(
      '-ERR [SYS/TEMP] Too many connections or failed logins from your address, try again later.',
    );
  });

  it('answers a failed login and a temporary failure with what the login path counts', () => {
    expect(pop3Replies.authFailed.outcome).toBe('failed');
    expect(pop3Replies.unavailable.outcome).toBe('unavailable');
    // RFC 3206: trouble that passes is SYS/TEMP, never AUTH, which tells the user to fix it.
    for (const reply of Object.values(pop3Replies)) {
      if (reply.outcome === 'unavailable') expect(reply.code).toBe('SYS/TEMP');
      if (reply.outcome === 'failed') expect(reply.code).toBe('AUTH');
    }
  });

  it('refuses a SASL response it cannot read without a code that blames the credentials', () => {
    for (const reply of Object.values(saslErrors)) {
      expect(reply.status).toBe('-ERR');
      expect(reply.code).toBeUndefined();
    }
  });

  it('names each text once', () => {
    const lines = Object.values(pop3Replies).map((r) => r.line);
    expect(new Set(lines).size).toBe(lines.length);
  });
});
