import { describe, expect, it } from 'vitest';
import { preauthCapabilities } from '../src/capabilities.js';
import { decodeBase64, decodePlain, encodePlain, oauthUser } from '../src/sasl.js';

describe('SASL PLAIN', () => {
  it('round-trips', () => {
    const encoded = encodePlain('', 'alice@example.com', 'pässword');
    expect(decodePlain(decodeBase64(encoded) as Buffer)).toEqual({
      authzid: '',
      user: 'alice@example.com',
      password: 'pässword',
    });
  });

  it.each([
    ['no NUL', 'alice'],
    ['one NUL', 'alice\u0000pw'],
    ['three NULs', 'a\u0000b\u0000c\u0000d'],
    ['empty user', '\u0000\u0000pw'],
    ['empty password', '\u0000alice\u0000'],
  ])('refuses %s', (_name, raw) => {
    expect(decodePlain(Buffer.from(raw))).toBeUndefined();
  });

  it.each(['abc', 'a===', '!!!!', 'YWJj\r\n', 'YW Jj', 'YWJjZA=x'])('refuses base64 %j', (text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});

describe('OAuth user extraction', () => {
  it('reads the user of XOAUTH2', () => {
    const raw = Buffer.from('user=alice@example.com\u0001auth=Bearer tok\u0001\u0001');
    expect(oauthUser('XOAUTH2', raw)).toBe('alice@example.com');
  });

  it('reads the user of OAUTHBEARER, unescaping the saslname', () => {
    const raw = Buffer.from('n,a=odd=2Cname@example.com,\u0001auth=Bearer tok\u0001\u0001');
    expect(oauthUser('OAUTHBEARER', raw)).toBe('odd,name@example.com');
  });

  it.each(['', 'auth=Bearer x', 'n,,\u0001auth=Bearer x'])('finds no user in %j', (raw) => {
    expect(oauthUser('XOAUTH2', Buffer.from(raw))).toBeUndefined();
    expect(oauthUser('OAUTHBEARER', Buffer.from(raw))).toBeUndefined();
  });
});

describe('pre-login capabilities', () => {
  it('offers STARTTLS and LOGINDISABLED on a plain connection', () => {
    const caps = preauthCapabilities({
      secure: false,
      canStartTls: true,
      allowPlaintext: false,
      oauth: false,
    });
    expect(caps.split(' ')).toEqual([
      'IMAP4rev1',
      'SASL-IR',
      'LITERAL+',
      'ID',
      'STARTTLS',
      'LOGINDISABLED',
    ]);
  });

  it('offers AUTH=PLAIN once secure, and OAuth mechanisms when enabled', () => {
    const caps = preauthCapabilities({
      secure: true,
      canStartTls: false,
      allowPlaintext: false,
      oauth: true,
    });
    expect(caps).toContain('AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER');
    expect(caps).not.toContain('STARTTLS');
    expect(caps).not.toContain('LOGINDISABLED');
  });
});
