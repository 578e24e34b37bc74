import { describe, expect, it } from 'vitest';
import { DotStuffer } from '../src/dot-stuff.js';

/** The rule written plainly, line by line, to check the stream version against. */
function reference(message: string): string {
  if (message === '') return '.\r\n';
  const lines = message.split(/\r?\n/);
  const ended = lines.at(-1) === '';
  if (ended) lines.pop();
  const stuffed = lines.map((l) => (l.startsWith('.') ? `.${l}` : l));
  return `${stuffed.join('\r\n')}\r\n.\r\n`;
}

function stuff(chunks: string[]): string {
  const stuffer = new DotStuffer();
  const out = chunks.map((c) => stuffer.stuff(Buffer.from(c, 'latin1')));
  out.push(stuffer.end());
  return Buffer.concat(out).toString('latin1');
}

describe('DotStuffer', () => {
  it.each([
    ['', '.\r\n'],
    ['a', 'a\r\n.\r\n'],
    ['a\r\n', 'a\r\n.\r\n'],
    ['a\n', 'a\r\n.\r\n'],
    ['.', '..\r\n.\r\n'],
    ['.\r\n.\r\n', '..\r\n..\r\n.\r\n'],
    ['a\r\n.b\r\n..c\n.', 'a\r\n..b\r\n...c\r\n..\r\n.\r\n'],
    ['x\r', 'x\r\n.\r\n'],
  ])('%j → %j', (input, expected) => {
    expect(stuff([input])).toBe(expected);
  });

  it.each([
    ['', ''],
    ['a', 'a\r\n'],
    ['.a\n.\r\n', '.a\r\n.\r\n'],
    ['x\r', 'x\r\n'],
  ])('without dots (BDAT): %j → %j', (input, expected) => {
    const lines = new DotStuffer({ dots: false });
    const out = Buffer.concat([lines.stuff(Buffer.from(input, 'latin1')), lines.end()]);
    expect(out.toString('latin1')).toBe(expected);
  });

  it('gives the same bytes however the message is cut into chunks', () => {
    const alphabet = ['a', '.', '\r', '\n', '\r\n', '\n.', '\r\n.', '..'];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 500; round += 1) {
      let message = '';
      for (let i = random(40); i > 0; i -= 1) message += alphabet[random(alphabet.length)];
      // A lone CR is not a line end: keep the inputs to what the reference understands.
      message = message.replace(/\r(?!\n)/g, '');
      const chunks: string[] = [];
      for (let at = 0; at < message.length; ) {
        const size = 1 + random(6);
        chunks.push(message.slice(at, at + size));
        at += size;
      }
      expect(stuff(chunks), JSON.stringify(chunks)).toBe(reference(message));
    }
  });
});
