import { describe, expect, it } from 'vitest';
import { type DataTarget, MessageRelay } from '../src/message-relay.js';
import { IncomingMessage } from '../src/server-side/incoming-message.js';

/** A backend connection that records what it was sent; `full` makes it ask for a pause. */
class FakeTarget implements DataTarget {
  readonly writes: string[] = [];
  full = false;

  constructor(readonly chunking = false) {}
  #drain: (() => void) | undefined;

  write(parts: readonly Buffer[]): boolean {
    this.writes.push(Buffer.concat(parts).toString('latin1'));
    return !this.full;
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.#drain = resolve;
    });
  }

  drain(): void {
    this.full = false;
    this.#drain?.();
  }

  get text(): string {
    return this.writes.join('');
  }
}

/** The session's message, with the client's dot-stuffing already removed, fed as a client would. */
function messageStream() {
  const message = new IncomingMessage(Number.POSITIVE_INFINITY, () => {});
  return Object.assign(message, {
    write: (text: string) => message.add(Buffer.from(text, 'latin1')),
    end: (text = '') => {
      message.add(Buffer.from(text, 'latin1'));
      message.finish();
    },
    destroy: () => message.abort(),
  });
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** More bytes than the relay gathers before it sends: lines of `c`. */
const bigLines = (c: string) => `${c.repeat(998)}\r\n`.repeat(70);

describe('MessageRelay', () => {
  it('sends a small message, its trace header and the terminator in one write', async () => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(
      stream,
      [{ target, prefix: Buffer.from('Received: x\r\n') }],
      30,
    );
    const [outlet] = relay.outlets;
    outlet?.open();
    stream.end('Subject: s\r\n\r\n.hi\r\n');
    await outlet?.done;
    expect(target.writes).toEqual(['Received: x\r\nSubject: s\r\n\r\n..hi\r\n.\r\n']);
  });

  it("holds the message for a backend whose 354 comes after the message's end", async () => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 30);
    stream.write('Subject: s\r\n\r\n');
    stream.end('body\r\n');
    await relay.ended();
    expect(target.writes).toEqual([]);
    relay.outlets[0]?.open();
    await relay.outlets[0]?.done;
    expect(target.writes).toEqual(['Subject: s\r\n\r\nbody\r\n.\r\n']);
  });

  it('gives every backend the same stuffed bytes, each with its own trace header', async () => {
    const stream = messageStream();
    const a = new FakeTarget();
    const b = new FakeTarget();
    const relay = new MessageRelay(
      stream,
      [
        { target: a, prefix: Buffer.from('Received: a\r\n') },
        { target: b, prefix: Buffer.from('Received: b\r\n') },
      ],
      30,
    );
    relay.outlets[0]?.open();
    for (const piece of ['Subject: s\r\n', '\r\n.one\r\n', '..two\r\n', 'three']) {
      stream.write(piece);
      await tick();
    }
    relay.outlets[1]?.open();
    stream.end();
    await Promise.all(relay.outlets.map((o) => o.done));
    const body = 'Subject: s\r\n\r\n..one\r\n...two\r\nthree\r\n.\r\n';
    expect(a.text).toBe(`Received: a\r\n${body}`);
    expect(b.text).toBe(`Received: b\r\n${body}`);
  });

  it('pauses the client while a backend is full and goes on once it drained', async () => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 30);
    relay.outlets[0]?.open();
    const [first, second] = [bigLines('a'), bigLines('b')];
    stream.write('Subject: s\r\n\r\n');
    stream.write(first);
    stream.write(second);
    await tick();
    expect(target.text).toBe(`Subject: s\r\n\r\n${first}`);
    target.full = true;
    stream.write('third\r\n');
    await tick();
    expect(stream.paused).toBe(true);
    stream.end('fourth\r\n');
    await tick();
    expect(target.text).toBe(`Subject: s\r\n\r\n${first}${second}`);
    target.drain();
    await relay.outlets[0]?.done;
    expect(target.text).toBe(`Subject: s\r\n\r\n${first}${second}third\r\nfourth\r\n.\r\n`);
  });

  it('gathers small pieces into one write, pieces as big as a read go out as they come', async () => {
    const stream = messageStream();
    const target = new FakeTarget(true);
    const relay = new MessageRelay(stream, [{ target }], 30);
    relay.outlets[0]?.open();
    // The session's DotReader gives a piece per line the sender dot-stuffed.
    for (const piece of ['Subject: s\r\n\r\n', '.one\r\n', '.two\r\n', 'three\r\n']) {
      stream.write(piece);
      await tick();
    }
    const big = bigLines('x');
    stream.write(big);
    await tick();
    stream.end('last\r\n');
    await relay.outlets[0]?.done;
    const small = 'Subject: s\r\n\r\n.one\r\n.two\r\nthree\r\n';
    expect(target.writes).toEqual([
      `BDAT ${small.length + big.length}\r\n${small}${big}`,
      'BDAT 6 LAST\r\nlast\r\n',
    ]);
  });

  it("pauses the client when too much waits for a backend's 354", async () => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 30);
    const line = `${'x'.repeat(998)}\r\n`;
    stream.write('Subject: s\r\n\r\n');
    for (let i = 0; i < 300; i += 1) stream.write(line);
    await tick();
    expect(stream.paused).toBe(true);
    expect(target.writes).toEqual([]);
    relay.outlets[0]?.open();
    stream.end();
    await relay.outlets[0]?.done;
    expect(target.text).toBe(`Subject: s\r\n\r\n${line.repeat(300)}.\r\n`);
  });

  it('a backend that refused DATA gets nothing; the others get the message', async () => {
    const stream = messageStream();
    const refused = new FakeTarget();
    const taken = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target: refused }, { target: taken }], 30);
    relay.outlets[0]?.drop();
    relay.outlets[1]?.open();
    stream.end('Subject: s\r\n\r\nhi\r\n');
    await relay.outlets[1]?.done;
    await expect(relay.outlets[0]?.done).rejects.toThrow();
    expect(refused.writes).toEqual([]);
    expect(taken.text).toBe('Subject: s\r\n\r\nhi\r\n.\r\n');
  });

  it.each([
    [
      'a mail loop',
      (s: ReturnType<typeof messageStream>) =>
        s.end('Received: 1\r\nReceived: 2\r\nReceived: 3\r\n\r\nbody\r\n'),
    ],
    [
      'a message over the size limit',
      (s: ReturnType<typeof messageStream>) => {
        s.sizeExceeded = true;
        s.end('Subject: s\r\n\r\nbody\r\n');
      },
    ],
    [
      'a client that went away',
      (s: ReturnType<typeof messageStream>) => {
        s.write('Subject: s\r\n\r\nbody\r\n');
        s.destroy();
      },
    ],
  ])('%s: no backend gets the terminator', async (_name, happen) => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 2);
    relay.outlets[0]?.open();
    happen(stream);
    await expect(relay.outlets[0]?.done).rejects.toThrow();
    await relay.ended();
    expect(target.text).not.toMatch(/\r\n\.\r\n$/);
  });

  it('BDAT: each write is one chunk, lines unstuffed, the last one marked LAST', async () => {
    const stream = messageStream();
    const target = new FakeTarget(true);
    const relay = new MessageRelay(
      stream,
      [{ target, prefix: Buffer.from('Received: x\r\n') }],
      30,
    );
    const [outlet] = relay.outlets;
    outlet?.open();
    const big = bigLines('y');
    stream.write(`Subject: s\r\n\r\n.dot\n${big}`);
    await tick();
    stream.write('more\n');
    await tick();
    stream.end('last line');
    await outlet?.done;
    const first = `Received: x\r\nSubject: s\r\n\r\n.dot\r\n${big}`;
    expect(target.writes).toEqual([
      `BDAT ${first.length}\r\n${first}`,
      'BDAT 17 LAST\r\nmore\r\nlast line\r\n',
    ]);
    expect(outlet?.chunks).toBe(2);
  });

  it('BDAT and DATA backends of one message each get their own wire form', async () => {
    const stream = messageStream();
    const bdat = new FakeTarget(true);
    const data = new FakeTarget(false);
    const relay = new MessageRelay(stream, [{ target: bdat }, { target: data }], 30);
    for (const o of relay.outlets) o.open();
    stream.end('Subject: s\r\n\r\n.\r\n');
    await Promise.all(relay.outlets.map((o) => o.done));
    expect(bdat.writes).toEqual(['BDAT 17 LAST\r\nSubject: s\r\n\r\n.\r\n']);
    expect(data.writes).toEqual(['Subject: s\r\n\r\n..\r\n.\r\n']);
  });

  it('BDAT: an empty message is one BDAT 0 LAST', async () => {
    const stream = messageStream();
    const target = new FakeTarget(true);
    const relay = new MessageRelay(stream, [{ target }], 30);
    relay.outlets[0]?.open();
    stream.end();
    await relay.outlets[0]?.done;
    expect(target.writes).toEqual(['BDAT 0 LAST\r\n']);
  });

  it('a mail loop is told apart, and the rest of the message is still read', async () => {
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 1);
    relay.outlets[0]?.open();
    stream.write('Received: 1\r\nReceived: 2\r\n\r\n');
    for (let i = 0; i < 100; i += 1) stream.write(`${'y'.repeat(1000)}\r\n`);
    stream.end();
    await relay.ended();
    expect(relay.tooManyHops).toBe(true);
    expect(target.writes).toEqual([]);
  });

  it('its tap sees every piece and the end first, of a message given up too', async () => {
    const seen: string[] = [];
    const tap = {
      data: (bytes: Buffer) => seen.push(bytes.toString('latin1')),
      end: () => seen.push('<end>'),
      abort: () => seen.push('<abort>'),
    };
    const stream = messageStream();
    const target = new FakeTarget();
    const relay = new MessageRelay(stream, [{ target }], 1, tap);
    relay.outlets[0]?.open();
    stream.write('Received: 1\r\nReceived: 2\r\n\r\n');
    stream.end('body\r\n');
    await relay.ended();
    expect(relay.tooManyHops).toBe(true);
    expect(seen).toEqual(['Received: 1\r\nReceived: 2\r\n\r\n', 'body\r\n', '<end>']);

    const gone = messageStream();
    seen.length = 0;
    const other = new MessageRelay(gone, [{ target: new FakeTarget() }], 30, tap);
    gone.write('A: b\r\n');
    gone.destroy();
    await other.ended();
    expect(seen).toEqual(['A: b\r\n', '<abort>']);
  });
});
