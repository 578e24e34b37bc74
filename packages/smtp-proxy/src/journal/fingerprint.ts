import { createHash, type Hash } from 'node:crypto';
import type { MessageReader } from '../message-relay.js';

/**
 * The fingerprint of a message as the sender sent it: its envelope sender and its header block
 * (up to the blank line that ends it, at most `maxBytes`), before homing adds its trace header.
 * A sender's retry of the same message has the same bytes (a queued message is sent again from
 * its queue file), and its header block, with the sender's Message-ID, Date and own Received
 * lines, tells it from any other message of the same sender. It is known once the header
 * block has arrived: backends can wait for it before the message goes to them.
 */
export class Fingerprint {
  readonly #hash: Hash;
  readonly #maxBytes: number;
  #seen = 0;
  /**
   * The last bytes before the next chunk: a blank line may straddle two chunks. It starts as a
   * line end, so that a message opening with its blank line (no headers) is found the same way
   * however the sender's bytes were cut into chunks.
   */
  #tail = Buffer.from('\r\n');
  #value: string | undefined;

  constructor(sender: string, maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#hash = createHash('sha256');
    // The length first: no sender can shift bytes into the message part.
    this.#hash.update(`${Buffer.byteLength(sender)}:${sender}\n`);
  }

  /** Done: the header block ended or the byte limit was reached. */
  get value(): string | undefined {
    return this.#value;
  }

  /** A piece of the message; returns the fingerprint once it is complete. */
  push(chunk: Buffer): string | undefined {
    if (this.#value !== undefined) return this.#value;
    const room = this.#maxBytes - this.#seen;
    const end = headerEnd(this.#tail, chunk);
    const take = Math.min(end ?? chunk.length, room);
    this.#hash.update(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.#seen += take;
    if (end !== undefined || this.#seen >= this.#maxBytes) return this.end();
    // A copy: a view would keep the whole chunk alive.
    this.#tail =
      chunk.length >= 3
        ? Buffer.from(chunk.subarray(chunk.length - 3))
        : Buffer.concat([this.#tail, chunk]).subarray(-3);
    return undefined;
  }

  /** The message ended (a message without a body): what was seen is the fingerprint. */
  end(): string {
    this.#value ??= this.#hash.digest('hex');
    return this.#value;
  }
}

/**
 * Where in `chunk` the header block ends (just past its blank line, CRLF or a bare LF), given
 * the last bytes before it; undefined while it has not.
 */
export function headerEnd(before: Buffer, chunk: Buffer): number | undefined {
  // Only a blank line that straddles the cut needs the bytes before it, and it ends within the
  // chunk's first three: the rest of the chunk is searched where it lies, not copied.
  const seam = Buffer.concat([before, chunk.subarray(0, 3)]);
  let best: number | undefined;
  for (const blank of blankLines) {
    const inSeam = seam.indexOf(blank);
    const straddles = inSeam >= 0 && inSeam < before.length;
    const at = straddles ? inSeam - before.length : chunk.indexOf(blank);
    if (!straddles && at < 0) continue;
    const past = at + blank.length;
    if (past > 0 && (best === undefined || past < best)) best = past;
  }
  return best;
}

const blankLines = [Buffer.from('\r\n\r\n'), Buffer.from('\n\n')];

/**
 * A message's fingerprint as MessageRelay reads the message (its `tap`): `value` resolves once
 * it is complete, or with undefined when the message was given up before (the client went
 * away): the transaction fails then anyway. Once it is complete the body costs a call per piece.
 */
export class FingerprintReader implements MessageReader {
  readonly value: Promise<string | undefined>;
  readonly #print: Fingerprint;
  #resolve!: (value: string | undefined) => void;

  constructor(sender: string, maxBytes: number) {
    this.#print = new Fingerprint(sender, maxBytes);
    this.value = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  data(chunk: Buffer): void {
    if (this.#print.value !== undefined) return;
    const value = this.#print.push(chunk);
    if (value !== undefined) this.#resolve(value);
  }

  end(): void {
    this.#resolve(this.#print.end());
  }

  abort(): void {
    this.#resolve(undefined);
  }
}
