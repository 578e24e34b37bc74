import { describe, expect, it } from 'vitest';
import { fatal, invalidCommand, noopTagged, saslErrors, sieveReplies } from '../src/replies.js';

describe('sieveReplies', () => {
  it('puts status, response code and quoted text on the wire as RFC 5804 §1.3 writes them', () => {
    expect(sieveReplies.authFailed.line).toBe('NO "Authentication failed."');
    expect(sieveReplies.unavailable.line).toBe(
      'NO (TRYLATER) "Temporary failure, try again later."',
    );
    expect(sieveReplies.internalError.line).toBe('BYE (TRYLATER) "Internal error."');
    expect(invalidCommand('a "quote"').line).toBe('NO "Invalid command: a \\"quote\\"."');
    expect(fatal('line\r\ntoo long').line).toBe('BYE "linetoo long"');
    expect(noopTagged('x')).toBe('OK (TAG "x") "Done."');
  });

  it('turns a client away before its session in the words it had', () => {
    expect(sieveReplies.busy.line).toBe('BYE (TRYLATER) "This server is busy, try again later"');
    expect(sieveReplies.blocked.line).toBe(
      'BYE (TRYLATER) "Too many connections or failed logins from your address, try again later."',
    );
  });

  it('answers a failed login and a temporary failure with what the login path counts', () => {
    expect(sieveReplies.authFailed.outcome).toBe('failed');
    expect(sieveReplies.unavailable.outcome).toBe('unavailable');
    // A bare NO is the credentials; TRYLATER the server's trouble (RFC 5804 §1.3).
    for (const reply of Object.values(sieveReplies)) {
      if (reply.outcome === 'unavailable') expect(reply.code).toBe('TRYLATER');
      if (reply.outcome === 'failed') expect(reply.code).toBeUndefined();
    }
  });

  it('refuses a SASL response it cannot read with a bare NO', () => {
    for (const reply of Object.values(saslErrors)) {
      expect([reply.status, reply.code]).toEqual(['NO', undefined]);
    }
  });

  it('names each text once', () => {
    const lines = Object.values(sieveReplies).map((r) => r.line);
    expect(new Set(lines).size).toBe(lines.length);
  });
});
