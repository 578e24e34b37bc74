import { describe, expect, it } from 'vitest';
import { decodeBase64, decodePlain, encodePlain, oauthUser } from '../src/sasl.js';

describe('decodeBase64', () => {
  it.each([
    ['', ''],
    ['YQ==', 'a'],
    ['YWI=', 'ab'],
    ['YWJj', 'abc'],
    ['AGFsaWNlAHB3', '\u0000alice\u0000pw'],
  ])('decodes %j', (text, expected) => {
    expect(decodeBase64(text)?.toString('latin1')).toBe(expected);
  });

  it.each([
    ['missing padding', 'YQ'],
    ['too much padding', 'YQ==='],
    ['padding in the middle', 'YQ==YQ=='],
    ['non-zero padding bits', 'YR=='],
    ['a space', 'YW Jj'],
    ['a line end', 'YWJj\r\n'],
    ['URL-safe alphabet', 'YW-_'],
    ['punctuation', '!!!!'],
    ['a cancel', '*'],
    ['an empty-response marker', '='],
    ['a NUL', 'YWJj\u0000'],
  ])('refuses %s', (_name, text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});

describe('SASL PLAIN', () => {
  it('round-trips', () => {
    const encoded = encodePlain('', 'alice@example.com', 'pässwörd with spaces');
    expect(decodePlain(encoded)).toEqual({
      authzid: '',
      user: 'alice@example.com',
      password: 'pässwörd with spaces',
    });
  });

  it('keeps an authorization identity', () => {
    expect(decodePlain(encodePlain('bob', 'admin', 'pw'))).toEqual({
      authzid: 'bob',
      user: 'admin',
      password: 'pw',
    });
  });

  it.each([
    ['no NUL', Buffer.from('alice')],
    ['one NUL', Buffer.from('alice\u0000pw')],
    ['three NULs', Buffer.from('a\u0000b\u0000c\u0000d')],
    ['empty user', Buffer.from('\u0000\u0000pw')],
    ['empty password', Buffer.from('\u0000alice\u0000')],
    ['nothing', Buffer.alloc(0)],
    ['only NULs', Buffer.alloc(1000)],
    ['invalid UTF-8', Buffer.from([0, 0x61, 0, 0xff])],
  ])('refuses %s', (_name, raw) => {
    expect(decodePlain(raw)).toBeUndefined();
  });
});

describe('OAuth user', () => {
  it('reads the user of XOAUTH2', () => {
    const raw = Buffer.from('user=alice@example.com\u0001auth=Bearer tok\u0001\u0001');
    expect(oauthUser('XOAUTH2', raw)).toBe('alice@example.com');
  });

  it('reads the user of OAUTHBEARER, unescaping the saslname', () => {
    const raw = Buffer.from('n,a=odd=2Cname=3D@example.com,\u0001auth=Bearer tok\u0001\u0001');
    expect(oauthUser('OAUTHBEARER', raw)).toBe('odd,name=@example.com');
  });

  it.each([
    ['nothing', ''],
    ['no user', 'auth=Bearer x\u0001\u0001'],
    ['an empty user', 'user=\u0001auth=Bearer x\u0001\u0001'],
    ['a GS2 header without authzid', 'n,,\u0001auth=Bearer x\u0001\u0001'],
  ])('finds no user in %s', (_name, raw) => {
    expect(oauthUser('XOAUTH2', Buffer.from(raw))).toBeUndefined();
    expect(oauthUser('OAUTHBEARER', Buffer.from(raw))).toBeUndefined();
  });

  it.each([
    ['a bad escape', 'n,a=x=41y,\u0001'],
    ['an unknown channel-binding flag', 'q,a=alice,\u0001'],
    ['invalid UTF-8', Buffer.from([0x6e, 0x2c, 0x61, 0x3d, 0xff, 0x2c, 0x01])],
  ])('refuses an OAUTHBEARER header with %s', (_name, raw) => {
    expect(oauthUser('OAUTHBEARER', Buffer.from(raw))).toBeUndefined();
  });
});
