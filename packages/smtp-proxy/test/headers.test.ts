import { describe, expect, it } from 'vitest';
import { ReceivedCounter, receivedHeader } from '../src/headers.js';

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

describe('receivedHeader', () => {
  const at = (date: Date) =>
    receivedHeader({
      helo: 'client.example.net',
      clientAddress: '192.0.2.7',
      by: 'homing.test',
      protocol: 'ESMTP',
      id: 'abc',
      recipient: 'bob@example.com',
      date,
    });

  it('names the client, homing, the session, the recipient and the date (RFC 5321 §4.4)', () => {
    expect(at(new Date('2026-03-04T05:06:07.250Z'))).toBe(
      'Received: from client.example.net ([192.0.2.7])\r\n\tby homing.test (homing) with ESMTP id abc\r\n\tfor <bob@example.com>;\r\n\tWed, 04 Mar 2026 05:06:07 +0000\r\n',
    );
  });

  it('has the date of its own second, within one second and across seconds', () => {
    const dates = [
      '2026-03-04T05:06:07.000Z',
      '2026-03-04T05:06:07.999Z',
      '2026-03-04T05:06:08.000Z',
      '2026-03-04T05:06:07.500Z',
      '2027-01-01T00:00:00.000Z',
    ];
    const times = dates.map((d) => at(new Date(d)).split('\r\n\t').at(-1));
    expect(times).toEqual([
      'Wed, 04 Mar 2026 05:06:07 +0000\r\n',
      'Wed, 04 Mar 2026 05:06:07 +0000\r\n',
      'Wed, 04 Mar 2026 05:06:08 +0000\r\n',
      'Wed, 04 Mar 2026 05:06:07 +0000\r\n',
      'Fri, 01 Jan 2027 00:00:00 +0000\r\n',
    ]);
  });
});
