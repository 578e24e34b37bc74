import { describe, expect, it } from 'vitest';
import type { MessageReader } from '../../src/message-relay.js';
import { IncomingMessage } from '../../src/server-side/incoming-message.js';

/** A reader that writes down what it got; `pauseAt` pauses the message on that piece. */
function recorder(message: IncomingMessage, pauseAt?: string) {
  const got: string[] = [];
  const reader: MessageReader = {
    data(bytes) {
      got.push(bytes.toString('latin1'));
      if (bytes.toString('latin1') === pauseAt) message.pause();
    },
    end: () => got.push('<end>'),
    abort: () => got.push('<abort>'),
  };
  return { got, reader };
}

const piece = (text: string) => Buffer.from(text, 'latin1');

describe('IncomingMessage', () => {
  it('hands its reader each piece in the same call, then the end', () => {
    const message = new IncomingMessage(1000, () => {});
    const { got, reader } = recorder(message);
    message.read(reader);
    expect(message.add(piece('A: b\r\n'))).toBe(true);
    expect(got).toEqual(['A: b\r\n']);
    message.finish();
    expect(got).toEqual(['A: b\r\n', '<end>']);
  });

  it('holds what comes before its reader (the client waits), and hands it over at once', () => {
    let drained = 0;
    const message = new IncomingMessage(1000, () => {
      drained += 1;
    });
    expect(message.add(piece('one\r\n'))).toBe(false);
    message.add(piece('two\r\n'));
    message.finish();
    const { got, reader } = recorder(message);
    message.read(reader);
    expect(got).toEqual(['one\r\n', 'two\r\n', '<end>']);
    expect(() => message.read(reader)).toThrow();
    expect(drained).toBe(1);
  });

  it('while its reader has paused, holds the pieces and the end; the client is read again after', () => {
    let drained = 0;
    const message = new IncomingMessage(1000, () => {
      drained += 1;
    });
    const { got, reader } = recorder(message, 'two\r\n');
    message.read(reader);
    expect(message.add(piece('one\r\n'))).toBe(true);
    expect(message.add(piece('two\r\n'))).toBe(false);
    expect(message.paused).toBe(true);
    expect(message.add(piece('three\r\n'))).toBe(false);
    expect(got).toEqual(['one\r\n', 'two\r\n']);
    const before = drained;
    message.resume();
    expect(got).toEqual(['one\r\n', 'two\r\n', 'three\r\n']);
    expect(drained).toBe(before + 1);
    message.pause();
    message.add(piece('four\r\n'));
    message.finish();
    expect(got).toEqual(['one\r\n', 'two\r\n', 'three\r\n']);
    // The end came while the client was paused: it is read again for its next command.
    message.resume();
    expect(got).toEqual(['one\r\n', 'two\r\n', 'three\r\n', 'four\r\n', '<end>']);
    expect(drained).toBe(before + 2);
  });

  it('a client gone before its reader had the end gives the message up; after, nothing changes', () => {
    const paused = new IncomingMessage(1000, () => {});
    const first = recorder(paused, 'one\r\n');
    paused.read(first.reader);
    paused.add(piece('one\r\n'));
    paused.add(piece('two\r\n'));
    paused.finish();
    paused.abort();
    expect(first.got).toEqual(['one\r\n', '<abort>']);

    const ended = new IncomingMessage(1000, () => {});
    const second = recorder(ended);
    ended.read(second.reader);
    ended.add(piece('one\r\n'));
    ended.finish();
    ended.abort();
    expect(second.got).toEqual(['one\r\n', '<end>']);
  });

  it('past its limit keeps counting, drops the rest and says so', () => {
    const message = new IncomingMessage(8, () => {});
    const { got, reader } = recorder(message);
    message.read(reader);
    message.add(piece('12345'));
    expect(message.add(piece('6789'))).toBe(true);
    message.add(piece('0'));
    message.finish();
    expect(got).toEqual(['12345', '<end>']);
    expect(message.sizeExceeded).toBe(true);
    expect(message.byteLength).toBe(10);
  });
});
