import { describe, expect, it } from 'vitest';
import { Fingerprint, FingerprintReader, headerEnd } from '../src/journal/fingerprint.js';

const whole = (sender: string, message: string, max = 65_536) => {
  const print = new Fingerprint(sender, max);
  return print.push(Buffer.from(message, 'latin1')) ?? print.end();
};

/** The same message cut into pieces of `size` bytes. */
const pieces = (sender: string, message: string, size: number, max = 65_536) => {
  const print = new Fingerprint(sender, max);
  const bytes = Buffer.from(message, 'latin1');
  for (let i = 0; i < bytes.length; i += size) {
    const value = print.push(bytes.subarray(i, i + size));
    if (value !== undefined) return value;
  }
  return print.end();
};

const message = 'From: a@example.net\r\nMessage-ID: <1@x>\r\n\r\nbody line\r\n.dot\r\n';

describe('headerEnd', () => {
  const line = Buffer.from('\r\n');
  it.each([
    ['CRLF blank line', 'A: b\r\n\r\nbody', 8],
    ['bare LF blank line', 'A: b\n\nbody', 6],
    ['the earlier of both kinds', 'A: b\n\nC: d\r\n\r\n', 6],
    ['no headers, CRLF', '\r\nbody', 2],
    ['no headers, LF', '\nbody', 1],
    ['a header block still going on', 'A: b\r\nC: d\r\n', undefined],
    ['CR alone is not a line end', 'A: b\r\r\r\r', undefined],
    ['empty', '', undefined],
  ])('%s', (_name, text, expected) => {
    expect(headerEnd(line, Buffer.from(text, 'latin1'))).toBe(expected);
  });

  it('finds a blank line cut between two chunks', () => {
    expect(headerEnd(Buffer.from('b\r\n'), Buffer.from('\r\nbody'))).toBe(2);
    expect(headerEnd(Buffer.from('\r\n\r'), Buffer.from('\nbody'))).toBe(1);
  });
});

describe('Fingerprint', () => {
  it('is the same however the message is cut into chunks', () => {
    const expected = whole('s@example.net', message);
    for (const size of [1, 2, 3, 4, 5, 7, 13, 40, 41, 42, 43, 1000])
      expect(pieces('s@example.net', message, size)).toBe(expected);
  });

  it('is the same for a message without headers, however cut', () => {
    const headerless = '\r\nonly a body\r\n';
    const expected = whole('s@x', headerless);
    for (const size of [1, 2, 3]) expect(pieces('s@x', headerless, size)).toBe(expected);
  });

  it('covers the header block only: a body changed after it gives the same fingerprint', () => {
    expect(whole('s@x', `${message}more`)).toBe(whole('s@x', message));
  });

  it.each([
    ['another sender', 'other@example.net', message],
    ['the null sender', '', message],
    ['one header byte changed', 's@example.net', message.replace('<1@x>', '<2@x>')],
    ['a header added', 's@example.net', `X-A: 1\r\n${message}`],
    ['LF for CRLF', 's@example.net', message.replaceAll('\r\n', '\n')],
  ])('differs for %s', (_name, sender, text) => {
    expect(whole(sender, text)).not.toBe(whole('s@example.net', message));
  });

  it('cannot be matched by moving bytes between sender and message', () => {
    expect(whole('a', 'b\r\n\r\n')).not.toBe(whole('ab', '\r\n\r\n'));
    expect(whole('a:1\n', 'X\r\n\r\n')).not.toBe(whole('a', ':1\nX\r\n\r\n'));
  });

  it('stops at its byte limit when the header block goes on', () => {
    const long = `X-Long: ${'a'.repeat(5000)}\r\n`;
    const a = whole('s', `${long}X-A: 1\r\n\r\n`, 1024);
    const b = whole('s', `${long}X-B: 2\r\n\r\n`, 1024);
    expect(a).toBe(b);
    expect(pieces('s', `${long}X-A: 1\r\n\r\n`, 100, 1024)).toBe(a);
  });

  it('is complete at the end of a message that never ends its header block', () => {
    const print = new Fingerprint('s', 65_536);
    expect(print.push(Buffer.from('A: b\r\n'))).toBeUndefined();
    expect(print.end()).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('FingerprintReader', () => {
  it('resolves once the header block has arrived, before the message ends', async () => {
    const reader = new FingerprintReader('s@example.net', 65_536);
    let value: string | undefined;
    void reader.value.then((v) => {
      value = v;
    });
    reader.data(Buffer.from(message.slice(0, 30), 'latin1'));
    await Promise.resolve();
    expect(value).toBeUndefined();
    reader.data(Buffer.from(message.slice(30), 'latin1'));
    expect(await reader.value).toBe(whole('s@example.net', message));
    reader.data(Buffer.from('more body\r\n'));
    reader.end();
    expect(await reader.value).toBe(whole('s@example.net', message));
  });

  it('resolves with nothing when the client goes away first', async () => {
    const reader = new FingerprintReader('s', 65_536);
    reader.data(Buffer.from('A: b\r\n'));
    reader.abort();
    expect(await reader.value).toBeUndefined();
  });
});
