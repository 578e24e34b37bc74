import { describe, expect, it } from 'vitest';
import { type CommandOptions, parseCommand } from '../../src/server-side/command.js';

const mx: CommandOptions = { lmtp: false, smtputf8: true, dsn: true, maxMessageBytes: 1000 };
const plainMx: CommandOptions = { ...mx, smtputf8: false, dsn: false };
const lmtp: CommandOptions = { ...mx, lmtp: true };

const parse = (line: string | Buffer, options = mx, utf8 = false) =>
  parseCommand(typeof line === 'string' ? Buffer.from(line, 'utf8') : line, options, utf8);

describe('parseCommand: commands', () => {
  it.each([
    ['EHLO client.example.net', { verb: 'EHLO', domain: 'client.example.net' }],
    ['ehlo Client.Example.NET', { verb: 'EHLO', domain: 'client.example.net' }],
    ['HELO [192.0.2.1]', { verb: 'HELO', domain: '[192.0.2.1]' }],
    ['EHLO [IPv6:2001:db8::1]', { verb: 'EHLO', domain: '[ipv6:2001:db8::1]' }],
    ['EHLO  spaced.example ', { verb: 'EHLO', domain: 'spaced.example' }],
    ['DATA', { verb: 'DATA' }],
    ['rset', { verb: 'RSET' }],
    ['NOOP', { verb: 'NOOP' }],
    ['NOOP anything at all', { verb: 'NOOP' }],
    ['QUIT', { verb: 'QUIT' }],
    ['HELP MAIL', { verb: 'HELP' }],
    ['VRFY alice', { verb: 'VRFY' }],
    ['STARTTLS', { verb: 'STARTTLS' }],
    ['BDAT 0 LAST', { verb: 'BDAT', size: 0, last: true }],
    ['BDAT 1000', { verb: 'BDAT', size: 1000, last: false }],
    ['bdat 12 last', { verb: 'BDAT', size: 12, last: true }],
  ])('%j', (line, command) => {
    expect(parse(line)).toEqual(command);
  });

  it.each([
    ['EHLO', 'LHLO x.example', { verb: 'unknown' }],
    ['LMTP', 'EHLO x.example', { verb: 'unknown' }],
    ['LMTP', 'HELO x.example', { verb: 'unknown' }],
    ['LMTP', 'LHLO x.example', { verb: 'LHLO', domain: 'x.example' }],
  ])('%s: %j', (mode, line, command) => {
    expect(parse(line, mode === 'LMTP' ? lmtp : mx)).toEqual(command);
  });

  it.each(['XYZZY', 'AUTH PLAIN AGFAYgBj', 'XCLIENT ADDR=192.0.2.1', 'TURN', ''])(
    '%j is not a command here',
    (line) => {
      expect(parse(line)).toEqual({ verb: 'unknown' });
    },
  );

  it('an HTTP request', () => {
    expect(parse('POST / HTTP/1.1')).toEqual({ verb: 'http' });
    expect(parse('GET /index.html HTTP/1.0')).toEqual({ verb: 'http' });
  });
});

describe('parseCommand: MAIL and RCPT', () => {
  it.each([
    ['MAIL FROM:<a@example.net>', 'a@example.net', false],
    ['mail from:<a@example.net>', 'a@example.net', false],
    ['MAIL FROM: <a@example.net>', 'a@example.net', false],
    ['MAIL FROM:<>', '', false],
    ['MAIL FROM:<@relay.example,@other.example:a@example.net>', 'a@example.net', false],
    ['MAIL FROM:<"john doe"@example.net>', '"john doe"@example.net', false],
    ['MAIL FROM:<"a>b"@example.net>', '"a>b"@example.net', false],
    ['MAIL FROM:<a@[192.0.2.1]>', 'a@[192.0.2.1]', false],
    ['MAIL FROM:<a@example.net> SIZE=1000', 'a@example.net', { SIZE: '1000' }],
    ['MAIL FROM:<a@example.net> BODY=8BITMIME', 'a@example.net', { BODY: '8BITMIME' }],
    ['MAIL FROM:<a@example.net> body=7bit', 'a@example.net', { BODY: '7bit' }],
    [
      'MAIL FROM:<a@example.net> RET=HDRS ENVID=QQ314159',
      'a@example.net',
      { RET: 'HDRS', ENVID: 'QQ314159' },
    ],
    ['MAIL FROM:<a@example.net>  SIZE=5  ', 'a@example.net', { SIZE: '5' }],
    ['MAIL FROM:<jörg@exämple.net> SMTPUTF8', 'jörg@exämple.net', { SMTPUTF8: true }],
  ])('%j', (line, address, args) => {
    expect(parse(line)).toEqual({ verb: 'MAIL', path: { address, args } });
  });

  it.each([
    ['RCPT TO:<b@example.com>', 'b@example.com', false],
    ['RCPT TO:<Postmaster>', 'Postmaster', false],
    [
      'RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE',
      'b@example.com',
      { NOTIFY: 'SUCCESS,FAILURE' },
    ],
    [
      'RCPT TO:<b@example.com> NOTIFY=NEVER ORCPT=rfc822;b@example.com',
      'b@example.com',
      {
        NOTIFY: 'NEVER',
        ORCPT: 'rfc822;b@example.com',
      },
    ],
  ])('%j', (line, address, args) => {
    expect(parse(line)).toEqual({ verb: 'RCPT', path: { address, args } });
  });

  it('RCPT takes UTF-8 in a transaction whose MAIL had SMTPUTF8, and only then', () => {
    expect(parse('RCPT TO:<jörg@exämple.net>', mx, true)).toMatchObject({ verb: 'RCPT' });
    expect(parse('RCPT TO:<jörg@exämple.net>', mx, false)).toMatchObject({
      verb: 'invalid',
      refusal: { code: 553 },
    });
  });

  it.each([
    ['missing brackets', 'MAIL FROM:a@example.net', 501],
    ['missing closing bracket', 'MAIL FROM:<a@example.net', 501],
    ['no FROM:', 'MAIL <a@example.net>', 501],
    ['TO: in MAIL', 'MAIL TO:<a@example.net>', 501],
    ['junk after the path', 'MAIL FROM:<a@example.net>junk', 501],
    ['a space in the address', 'MAIL FROM:<a b@example.net>', 501],
    ['two @ and no quotes', 'MAIL FROM:<a@b@example.net>', 501],
    ['no domain', 'MAIL FROM:<a@>', 501],
    ['no local part', 'MAIL FROM:<@example.net>', 501],
    ['a bad domain', 'MAIL FROM:<a@exa_mple..net>', 501],
    ['nested brackets', 'MAIL FROM:<<a@example.net>>', 501],
    ['a local part over 64', `MAIL FROM:<${'a'.repeat(65)}@example.net>`, 501],
    [
      'a path over 256',
      `MAIL FROM:<abcdefghij@${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.example>`,
      501,
    ],
    ['an unknown parameter', 'MAIL FROM:<a@example.net> FOO=bar', 555],
    ['a duplicate parameter', 'MAIL FROM:<a@example.net> SIZE=1 SIZE=2', 501],
    ['a duplicate in other case', 'MAIL FROM:<a@example.net> BODY=7BIT body=8BITMIME', 501],
    ['SIZE without a value', 'MAIL FROM:<a@example.net> SIZE', 501],
    ['SIZE not a number', 'MAIL FROM:<a@example.net> SIZE=12k', 501],
    ['a huge SIZE', `MAIL FROM:<a@example.net> SIZE=${'9'.repeat(30)}`, 501],
    ['SIZE over the limit', 'MAIL FROM:<a@example.net> SIZE=1001', 552],
    ['BODY=BINARYMIME (not offered)', 'MAIL FROM:<a@example.net> BODY=BINARYMIME', 501],
    ['SMTPUTF8 with a value', 'MAIL FROM:<a@example.net> SMTPUTF8=yes', 501],
    ['RET bad', 'MAIL FROM:<a@example.net> RET=ALL', 501],
    ['a parameter with "="in its value', 'MAIL FROM:<a@example.net> ENVID=a=b', 501],
    ['a bad keyword', 'MAIL FROM:<a@example.net> -X=1', 501],
    ['UTF-8 without SMTPUTF8', 'MAIL FROM:<jörg@exämple.net>', 553],
    ['RCPT null path', 'RCPT TO:<>', 501],
    ['RCPT a MAIL parameter', 'RCPT TO:<b@example.com> SIZE=10', 555],
    ['RCPT bad NOTIFY', 'RCPT TO:<b@example.com> NOTIFY=SOMETIMES', 501],
    ['RCPT NOTIFY=NEVER with more', 'RCPT TO:<b@example.com> NOTIFY=NEVER,DELAY', 501],
    ['RCPT bad ORCPT', 'RCPT TO:<b@example.com> ORCPT=b@example.com', 501],
  ])('refuses %s', (_name, line, code) => {
    expect(parse(line)).toMatchObject({ verb: 'invalid', refusal: { code } });
  });

  it.each([
    ['SMTPUTF8', 'MAIL FROM:<a@example.net> SMTPUTF8'],
    ['RET', 'MAIL FROM:<a@example.net> RET=FULL'],
    ['ENVID', 'MAIL FROM:<a@example.net> ENVID=x'],
    ['NOTIFY', 'RCPT TO:<b@example.com> NOTIFY=DELAY'],
    ['ORCPT', 'RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com'],
  ])('%s only where offered', (_name, line) => {
    expect(parse(line)).toMatchObject({ verb: line.slice(0, 4) });
    expect(parse(line, plainMx)).toMatchObject({ verb: 'invalid', refusal: { code: 555 } });
  });
});

describe('parseCommand: hostile lines', () => {
  it.each([
    ['a NUL', 'MAIL FROM:<a\u0000@example.net>'],
    ['a bare CR', 'RSET\rQUIT'],
    ['a bare CR in an address', 'RCPT TO:<b@example.com>\r'],
    ['an escape', 'EHLO \u001b[31mred'],
    ['DEL', 'NOOP\u007f'],
    ['a tab', 'MAIL\tFROM:<a@example.net>'],
    ['invalid UTF-8', Buffer.from([0x4d, 0x41, 0x49, 0x4c, 0x20, 0xff, 0xfe])],
    ['an overlong encoding', Buffer.from('MAIL FROM:<a\xc0\xaf@example.net>', 'latin1')],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
  ])('refuses %s', (_name, line) => {
    expect(parse(line)).toMatchObject({ verb: 'invalid', refusal: { code: 501 } });
  });

  it.each([
    ['EHLO without a name', 'EHLO'],
    ['EHLO with two names', 'EHLO a.example b.example'],
    ['EHLO with a bad name', 'EHLO -bad-'],
    ['EHLO with an overlong name', `EHLO ${'a'.repeat(300)}`],
    ['DATA with an argument', 'DATA now'],
    ['QUIT with an argument', 'QUIT please'],
    ['STARTTLS with an argument', 'STARTTLS x'],
    ['VRFY without an argument', 'VRFY'],
  ])('refuses %s', (_name, line) => {
    expect(parse(line)).toMatchObject({ verb: 'invalid', refusal: { code: 501 } });
  });

  it.each([
    ['BDAT without a size', 'BDAT'],
    ['BDAT with a bad size', 'BDAT 1x'],
    ['BDAT with a negative size', 'BDAT -1'],
    ['BDAT with a huge size', `BDAT ${'9'.repeat(16)}`],
    ['BDAT with junk after LAST', 'BDAT 1 LAST now'],
    ['BDAT with junk instead of LAST', 'BDAT 1 FIRST'],
  ])('refuses %s, and the session cannot go on', (_name, line) => {
    expect(parse(line)).toMatchObject({ verb: 'invalid', refusal: { code: 501, close: true } });
  });
});

describe('parseCommand: AUTH (submission)', () => {
  const submission: CommandOptions = { ...mx, auth: ['PLAIN', 'LOGIN'] };
  const oauth: CommandOptions = { ...mx, auth: ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER'] };

  it.each([
    ['AUTH PLAIN', { verb: 'AUTH', mechanism: 'PLAIN', initial: undefined }],
    [
      'auth plain AGFsaWNlAHNlY3JldA==',
      { verb: 'AUTH', mechanism: 'PLAIN', initial: 'AGFsaWNlAHNlY3JldA==' },
    ],
    ['AUTH PLAIN =', { verb: 'AUTH', mechanism: 'PLAIN', initial: '=' }],
    ['AUTH LOGIN', { verb: 'AUTH', mechanism: 'LOGIN', initial: undefined }],
    ['AUTH LOGIN YWxpY2U=', { verb: 'AUTH', mechanism: 'LOGIN', initial: 'YWxpY2U=' }],
  ])('%j', (line, command) => {
    expect(parse(line, submission)).toEqual(command);
  });

  it('XOAUTH2 and OAUTHBEARER only where offered', () => {
    expect(parse('AUTH XOAUTH2 dXNlcj1h', oauth)).toEqual({
      verb: 'AUTH',
      mechanism: 'XOAUTH2',
      initial: 'dXNlcj1h',
    });
    expect(parse('AUTH OAUTHBEARER', oauth)).toMatchObject({ verb: 'AUTH' });
    expect(parse('AUTH XOAUTH2 dXNlcj1h', submission)).toMatchObject({
      verb: 'invalid',
      refusal: { code: 504 },
    });
  });

  it.each([mx, lmtp])('is no command on an MX or LMTP listener', (options) => {
    expect(parse('AUTH PLAIN AGFsaWNlAHNlY3JldA==', options)).toEqual({ verb: 'unknown' });
    expect(parse('AUTH LOGIN', options)).toEqual({ verb: 'unknown' });
  });

  it.each([
    ['an unknown mechanism', 'AUTH CRAM-MD5', 504],
    ['a mechanism that is a prefix of one', 'AUTH PLAI', 504],
    ['a mechanism that only starts like one', 'AUTH PLAINX AGFiAGM=', 504],
    ['GSSAPI', 'AUTH GSSAPI', 504],
    ['no mechanism', 'AUTH', 501],
    ['a mechanism after two spaces', 'AUTH  PLAIN', 501],
    ['two initial responses', 'AUTH PLAIN AGFiAGM= AGFiAGM=', 501],
    ['bad base64 in the initial response', 'AUTH PLAIN AGFi!GM=', 501],
    ['a cancel as the initial response', 'AUTH PLAIN *', 501],
    ['padding in the middle', 'AUTH PLAIN AG==FiAGM', 501],
    ['too much padding', 'AUTH PLAIN AGFiAGM===', 501],
    ['a trailing space', 'AUTH PLAIN AGFiAGM= ', 501],
    ['an overlong initial response of junk', `AUTH PLAIN ${'-'.repeat(5000)}`, 501],
  ])('refuses %s', (_name, line, code) => {
    expect(parse(line, oauth)).toMatchObject({ verb: 'invalid', refusal: { code } });
  });

  it('refuses control characters and bad UTF-8 in an AUTH line', () => {
    expect(parse('AUTH PLAIN AGFi\u0000AGM=', oauth)).toMatchObject({ refusal: { code: 501 } });
    expect(parse(Buffer.from('AUTH PLAIN \xff\xfe', 'latin1'), oauth)).toMatchObject({
      refusal: { code: 501 },
    });
  });
});
