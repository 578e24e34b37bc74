import { describe, expect, it } from 'vitest';
import { ReceivedCounter } from '../src/headers.js';

/** Feeds `text` cut at `cuts`; the count and whether the header section was still going. */
function count(text: string, cuts: readonly number[]): { count: number; inHeaders: boolean } {
  const counter = new ReceivedCounter();
  let inHeaders = true;
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    inHeaders = counter.push(Buffer.from(text.slice(at, cut), 'latin1'));
    at = cut;
  }
  return { count: counter.count, inHeaders };
}

describe('ReceivedCounter', () => {
  const headers =
    'Received: from a\r\n\tby b\r\nRECEIVED: from c\r\nX-Received: no\r\nSubject: received: no\r\nreceived:x\r\n';
  it.each([
    ['CRLF', `${headers}\r\nReceived: in the body\r\n`, 3, false],
    ['bare LF', `${headers.replaceAll('\r\n', '\n')}\nReceived: in the body\n`, 3, false],
    ['no blank line yet', headers, 3, true],
    ['a blank line first', '\r\nReceived: x\r\n', 0, false],
    ['a long line', `Received: ${'x'.repeat(2000)}\r\nReceived: y\r\n\r\n`, 2, false],
  ])('%s: counted wherever the bytes are cut', (_name, text, expected, inHeaders) => {
    for (let cut = 0; cut <= text.length; cut += 1) {
      expect(count(text, [cut]), `cut at ${cut}`).toEqual({ count: expected, inHeaders });
    }
    expect(
      count(
        text,
        Array.from({ length: text.length }, (_, i) => i),
      ),
    ).toEqual({
      count: expected,
      inHeaders,
    });
  });
});
