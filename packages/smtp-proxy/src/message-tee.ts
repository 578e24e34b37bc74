import { PassThrough } from 'node:stream';
import type { SMTPServerDataStream } from 'smtp-server';
import { ReceivedCounter } from './headers.js';

/**
 * Copies the client's message into one pipe per backend as it arrives, so that nothing is
 * spooled here. A pipe is destroyed with an error to give the message up (a mail loop, a message
 * over the size limit): the backend delivery reading it fails and the backend keeps nothing.
 */
export class MessageTee {
  readonly pipes: readonly PassThrough[];
  readonly #stream: SMTPServerDataStream;
  #tooManyHops = false;

  /** `maxReceived`: more `Received:` headers than this is a mail loop (RFC 5321 §6.3). */
  constructor(stream: SMTPServerDataStream, count: number, maxReceived: number) {
    this.#stream = stream;
    const pipes = Array.from({ length: count }, () => {
      const pipe = new PassThrough();
      // A given-up pipe errors; the delivery reading it reports that, not this listener.
      pipe.on('error', () => {});
      return pipe;
    });
    this.pipes = pipes;
    const loop = new ReceivedCounter();
    stream.on('data', (chunk: Buffer) => {
      loop.push(chunk);
      if (loop.count > maxReceived && !this.#tooManyHops) {
        this.#tooManyHops = true;
        for (const p of pipes) p.destroy(new Error('mail loop'));
      }
      // The slowest backend sets the pace: pause the client until every full pipe drained.
      const full = pipes.filter((p) => !p.destroyed && !p.write(chunk));
      if (full.length > 0) this.#pauseUntilDrained(full);
    });
    stream.once('end', () => {
      if (stream.sizeExceeded) for (const p of pipes) p.destroy(new Error('message too big'));
      else for (const p of pipes) p.end();
    });
  }

  /** The message carried more Received headers than allowed: every pipe was given up. */
  get tooManyHops(): boolean {
    return this.#tooManyHops;
  }

  /** Resolves once the client's message has been read to its end. */
  ended(): Promise<void> {
    const stream = this.#stream;
    return new Promise<void>((resolve) =>
      stream.readableEnded ? resolve() : stream.once('end', () => resolve()),
    );
  }

  #pauseUntilDrained(full: PassThrough[]): void {
    const stream = this.#stream;
    stream.pause();
    let waiting = full.length;
    const done = () => {
      waiting -= 1;
      if (waiting === 0) stream.resume();
    };
    // A pipe that is destroyed (loop found, backend gone) never drains: count its close.
    for (const p of full) {
      const once = () => {
        p.off('drain', once);
        p.off('close', once);
        done();
      };
      p.on('drain', once);
      p.on('close', once);
    }
  }
}
