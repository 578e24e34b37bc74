import { describe, expect, it } from 'vitest';
import { preauthCapabilities } from '../src/capabilities.js';
import { parseReply } from '../src/reply.js';

describe('parseReply', () => {
  it.each([
    ['+OK', 'ok', undefined, ''],
    ['+OK Logged in.', 'ok', undefined, 'Logged in.'],
    ['+OK [XCLIENT] Dovecot ready.', 'ok', 'XCLIENT', 'Dovecot ready.'],
    ['+ok lower case', 'ok', undefined, 'lower case'],
    ['-ERR', 'err', undefined, ''],
    ['-ERR [AUTH] Authentication failed.', 'err', 'AUTH', 'Authentication failed.'],
    ['-ERR [IN-USE] Mailbox is locked.', 'err', 'IN-USE', 'Mailbox is locked.'],
    ['-ERR [SYS/TEMP] Try later', 'err', 'SYS/TEMP', 'Try later'],
    ['-ERR [LOGIN-DELAY]', 'err', 'LOGIN-DELAY', ''],
    ['+ ', 'challenge', undefined, ''],
    ['+', 'challenge', undefined, ''],
    ['+ eyJzdGF0dXMiOiI0MDEifQ==', 'challenge', undefined, 'eyJzdGF0dXMiOiI0MDEifQ=='],
  ])('%j', (line, status, code, text) => {
    const reply = parseReply(Buffer.from(line));
    expect(reply).toMatchObject({ status, code, text });
    expect(reply?.raw.toString()).toBe(line);
  });

  it.each(['', 'OK', '+OKAY', '-ERROR', '* OK IMAP', '220 smtp', '.', '+x'])(
    'refuses %j',
    (line) => {
      expect(parseReply(Buffer.from(line))).toBeUndefined();
    },
  );
});

describe('pre-login capabilities', () => {
  it('offers STLS and no login before TLS when plaintext is not allowed', () => {
    expect(preauthCapabilities({ canStartTls: true, loginAllowed: false, oauth: true })).toEqual([
      'STLS',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
    ]);
  });

  it('offers USER and SASL once login is allowed, OAuth only when enabled', () => {
    expect(preauthCapabilities({ canStartTls: false, loginAllowed: true, oauth: false })).toEqual([
      'USER',
      'SASL PLAIN',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
    ]);
    expect(preauthCapabilities({ canStartTls: true, loginAllowed: true, oauth: true })).toEqual([
      'STLS',
      'USER',
      'SASL PLAIN XOAUTH2 OAUTHBEARER',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
    ]);
  });
});
