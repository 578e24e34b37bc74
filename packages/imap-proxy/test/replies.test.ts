import { describe, expect, it } from 'vitest';
import { commandError, imapReplies, saslErrors, tagged, tooBig, untagged } from '../src/replies.js';

describe('imapReplies', () => {
  it('puts status, response code and text on the wire as RFC 9051 §7.1 writes them', () => {
    expect(tagged('a1', imapReplies.authFailed)).toBe(
      'a1 NO [AUTHENTICATIONFAILED] Authentication failed.',
    );
    expect(tagged('a2', imapReplies.unavailable)).toBe(
      'a2 NO [UNAVAILABLE] Temporary failure, try again later.',
    );
    expect(untagged(imapReplies.idle)).toBe('* BYE Autologout; idle for too long');
    expect(tagged('a3', commandError('bad literal'))).toBe(
      'a3 BAD Error in IMAP command: bad literal',
    );
    expect(tagged('*', tooBig('line too long'))).toBe('* BAD [TOOBIG] Line too long');
  });

  it('turns a client away before its session in the words it had', () => {
    expect(untagged(imapReplies.busy)).toBe(
      '* BYE [UNAVAILABLE] This server is busy, try again later',
    );
    expect(untagged(imapReplies.blocked)).toBe(
      '* BYE [UNAVAILABLE] Too many connections or failed logins from your address, try again later',
    );
  });

  it('answers a failed login and a temporary failure with what the login path counts', () => {
    expect(imapReplies.authFailed.outcome).toBe('failed');
    expect(imapReplies.unavailable.outcome).toBe('unavailable');
    // Trouble that passes is never said as the user's fault (RFC 5530 §3).
    for (const reply of Object.values(imapReplies)) {
      if (reply.outcome === 'unavailable') expect(reply.code).toBe('UNAVAILABLE');
      if (reply.outcome === 'failed') expect(reply.status).toBe('NO');
    }
  });

  it('says a SASL response it cannot read is the client syntax: BAD', () => {
    for (const reply of Object.values(saslErrors)) expect(reply.status).toBe('BAD');
  });

  it('names each text once', () => {
    const lines = Object.values(imapReplies).map((r) => r.line);
    expect(new Set(lines).size).toBe(lines.length);
  });
});
