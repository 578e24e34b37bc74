import { describe, expect, it } from 'vitest';
import {
  answerSaslResponse,
  decodeBase64,
  decodePlain,
  encodePlain,
  oauthUser,
  readSaslResponse,
  type SaslAnswers,
} from '../src/sasl.js';

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
    ['a length not a multiple of four', 'abc'],
    ['three pad characters', 'a==='],
    ['garbage after padding', 'YWJjZA=x'],
    // Decoded the same as "AA==" by a lenient decoder; one protocol once took it, another not.
    ['padding bits set in a one-byte group', 'AB=='],
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

describe('readSaslResponse', () => {
  const plain = (authzid: string, user: string, password: string) =>
    encodePlain(authzid, user, password).toString('base64');

  it('gives PLAIN credentials', () => {
    expect(readSaslResponse('PLAIN', plain('', 'alice@example.com', 'pw'))).toEqual({
      kind: 'credentials',
      credentials: { mechanism: 'PLAIN', authzid: '', user: 'alice@example.com', password: 'pw' },
    });
  });

  it('gives the OAuth user and the whole message', () => {
    const raw = Buffer.from('user=alice@example.com\u0001auth=Bearer tok\u0001\u0001');
    expect(readSaslResponse('XOAUTH2', raw.toString('base64'))).toEqual({
      kind: 'credentials',
      credentials: { mechanism: 'XOAUTH2', user: 'alice@example.com', response: raw },
    });
  });

  it.each([
    ['PLAIN', '*', 'cancelled'],
    ['XOAUTH2', '*', 'cancelled'],
    ['PLAIN', '=', 'malformed'],
    ['OAUTHBEARER', '=', 'no-user'],
    ['PLAIN', '', 'malformed'],
    ['PLAIN', 'AB==', 'bad-base64'],
    ['PLAIN', 'not base64!', 'bad-base64'],
    ['PLAIN', Buffer.from('alice\u0000pw').toString('base64'), 'malformed'],
    ['PLAIN', Buffer.from([0, 0x61, 0, 0xff]).toString('base64'), 'malformed'],
    ['XOAUTH2', Buffer.from('auth=Bearer x\u0001\u0001').toString('base64'), 'no-user'],
    ['OAUTHBEARER', Buffer.from('q,a=alice,\u0001').toString('base64'), 'no-user'],
  ] as const)('%s %j is %s', (mechanism, response, kind) => {
    expect(readSaslResponse(mechanism, response).kind).toBe(kind);
  });
});

describe('answerSaslResponse', () => {
  type Reply = 'cancel' | 'base64' | 'plain';
  function record() {
    const done: string[] = [];
    const answers: SaslAnswers<Reply> = {
      refusals: { cancelled: 'cancel', 'bad-base64': 'base64', malformed: 'plain' },
      refuse: (reply) => void done.push(`refuse ${reply}`),
      failLogin: async () => void done.push('fail'),
      login: async (credentials) => void done.push(`login ${credentials.user}`),
    };
    return { done, answers };
  }

  it.each([
    ['PLAIN', '*', 'refuse cancel'],
    ['PLAIN', 'AB==', 'refuse base64'],
    ['PLAIN', '=', 'refuse plain'],
    ['OAUTHBEARER', '=', 'fail'],
    ['PLAIN', encodePlain('', 'bob', 'pw').toString('base64'), 'login bob'],
  ] as const)('answers %s %j with %s', async (mechanism, response, expected) => {
    const { done, answers } = record();
    await answerSaslResponse(mechanism, response, answers);
    expect(done).toEqual([expected]);
  });
});
