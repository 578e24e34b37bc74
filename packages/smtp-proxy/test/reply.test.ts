import { describe, expect, it } from 'vitest';
import { ReplyCollector, type SmtpReply } from '../src/reply.js';

function collect(...lines: string[]): SmtpReply | undefined {
  const collector = new ReplyCollector();
  let reply: SmtpReply | undefined;
  for (const line of lines) reply = collector.push(line);
  return reply;
}

describe('ReplyCollector', () => {
  it.each([
    [['250 2.1.5 Ok'], { code: 250, enhanced: '2.1.5', lines: ['Ok'] }],
    [['250 2.0.0'], { code: 250, enhanced: '2.0.0', lines: [''] }],
    [['250 Ok'], { code: 250, enhanced: undefined, lines: ['Ok'] }],
    [['250 2.1.5000 no status'], { code: 250, enhanced: undefined, lines: ['2.1.5000 no status'] }],
    [['451 4.3.0 <x> Try again'], { code: 451, enhanced: '4.3.0', lines: ['<x> Try again'] }],
    [
      ['250-mbox.test', '250-PIPELINING', '250 CHUNKING'],
      { code: 250, enhanced: undefined, lines: ['mbox.test', 'PIPELINING', 'CHUNKING'] },
    ],
    [
      ['550-5.1.1 No such user', '550 5.1.1 here'],
      { code: 550, enhanced: '5.1.1', lines: ['No such user', 'here'] },
    ],
    [
      ['550-5.1.1 No such user', '550 and no status here'],
      { code: 550, enhanced: '5.1.1', lines: ['No such user', 'and no status here'] },
    ],
  ])('%j', (lines, reply) => {
    expect(collect(...lines)).toEqual(reply);
  });

  it('waits for the last line, and takes the next reply afresh', () => {
    const collector = new ReplyCollector();
    expect(collector.push('250-one')).toBeUndefined();
    expect(collector.push('250 2.0.0 two')).toEqual({
      code: 250,
      enhanced: undefined,
      lines: ['one', '2.0.0 two'],
    });
    expect(collector.push('354 go')).toEqual({ code: 354, enhanced: undefined, lines: ['go'] });
  });

  it.each([['250'], ['25 x'], ['250_x'], ['abc ok'], ['250 a\rb']])('refuses %j', (line) => {
    expect(() => collect(line)).toThrow(/not an SMTP reply/);
  });

  it('refuses a code that changes midway', () => {
    expect(() => collect('250-a', '251 b')).toThrow(/changed midway/);
  });
});
