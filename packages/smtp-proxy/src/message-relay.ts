import { DotStuffer } from './dot-stuff.js';
import { ReceivedCounter } from './headers.js';

/** Where one backend's copy of the message goes: its connection. */
export interface DataTarget {
  /**
   * BDAT (RFC 3030) instead of DATA: each write is one chunk with its BDAT command, the lines
   * are not dot-stuffed and there is no terminator; no 354 is awaited.
   */
  readonly chunking: boolean;
  /**
   * Bytes in wire form, in one write however many parts (not copied into one buffer first);
   * false when they were queued past the high-water mark.
   */
  write(parts: readonly Buffer[]): boolean;
  /** Resolves once the queued bytes left, or the connection closed. */
  drained(): Promise<void>;
}

/** What follows a message as it arrives: MessageRelay, and what MessageRelay passes it on to. */
export interface MessageReader {
  /** A piece of the message as received (dots already removed). */
  data(bytes: Buffer): void;
  /** The message is complete, or given up for its size (`sizeExceeded`). */
  end(): void;
  /** The client went away before the end: the message is given up. */
  abort(): void;
}

/** The message as a listener's session hands it to the router, with its size so far. */
export interface ClientMessage {
  /** Bytes received so far. */
  readonly byteLength: number;
  /** Past the listener's limit: the rest is dropped, the session answers 552 itself. */
  readonly sizeExceeded: boolean;
  /** Hands the message to its one reader: what came so far at once, the rest as it comes. */
  read(reader: MessageReader): void;
  /** The reader is behind: the client waits until `resume`. */
  pause(): void;
  resume(): void;
}

/** Held for a backend that has not said 354 yet; past this the client is paused. */
const maxHeldBytes = 256 * 1024;

/**
 * One backend's share of the message. Bytes are held until the backend's 354 (`open()`; with
 * BDAT there is none to wait for), then written straight to its connection, for BDAT each write
 * as one chunk. A trace header given as `prefix` leaves with the first bytes of the message, not
 * on its own.
 */
export class Outlet {
  /** BDAT commands written; each gets a reply. */
  chunks = 0;
  /** Resolves once the terminator was handed to the connection; rejects if the message was given up. */
  readonly done: Promise<void>;
  readonly #target: DataTarget;
  #state: 'waiting' | 'open' | 'closed' = 'waiting';
  #held: Buffer[] = [];
  #heldBytes = 0;
  #bodyHeld = false;
  #finished = false;
  #resolve!: () => void;
  #reject!: (error: Error) => void;
  #wakeWaiting: (() => void) | undefined;

  constructor(target: DataTarget, prefix?: Buffer) {
    this.#target = target;
    if (prefix) this.#hold(prefix);
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody awaits `done` for a backend that refused DATA.
    this.done.catch(() => {});
  }

  /** The backend said 354 (BDAT: at once): what was held goes out in one write. */
  open(): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'open';
    if (this.#bodyHeld) this.#flush();
    this.#wake();
  }

  /** The backend refused DATA: it gets none of the message. */
  drop(): void {
    this.#close();
    this.#reject(new Error('DATA refused'));
  }

  get chunking(): boolean {
    return this.#target.chunking;
  }

  /** A piece of the message; a promise when the client must wait before the next one. */
  send(bytes: Buffer, last: boolean): Promise<void> | undefined {
    if (this.#state === 'closed' || (bytes.length === 0 && !last)) return undefined;
    this.#hold(bytes);
    this.#bodyHeld = true;
    if (last) this.#finished = true;
    if (this.#state === 'waiting') {
      if (this.#heldBytes <= maxHeldBytes) return undefined;
      return new Promise<void>((resolve) => {
        this.#wakeWaiting = resolve;
      });
    }
    return this.#flush();
  }

  /** The message was given up (loop, size, client gone): the terminator is never sent. */
  giveUp(error: Error): void {
    if (this.#state === 'closed') return;
    this.#close();
    this.#reject(error);
  }

  #hold(bytes: Buffer): void {
    this.#held.push(bytes);
    this.#heldBytes += bytes.length;
  }

  #flush(): Promise<void> | undefined {
    const held = this.#held;
    if (this.#target.chunking) {
      const size = this.#heldBytes;
      held.unshift(Buffer.from(`BDAT ${size}${this.#finished ? ' LAST' : ''}\r\n`));
      this.chunks += 1;
    }
    this.#held = [];
    this.#heldBytes = 0;
    const flowing = this.#target.write(held);
    if (this.#finished) {
      this.#state = 'closed';
      this.#resolve();
    }
    return flowing ? undefined : this.#target.drained();
  }

  #close(): void {
    this.#state = 'closed';
    this.#held = [];
    this.#heldBytes = 0;
    this.#wake();
  }

  #wake(): void {
    const wake = this.#wakeWaiting;
    this.#wakeWaiting = undefined;
    wake?.();
  }
}

/** One piece of the message as DATA and as BDAT backends get it. */
interface Piece {
  readonly data: Buffer;
  readonly bdat: Buffer;
}

const NOTHING = Buffer.alloc(0);

/**
 * Pieces of a message gather up to this many bytes before they go to the backends. The client's
 * session hands the message over as it reads it (in a piece per line that the sender
 * dot-stuffed, for one), and each piece sent on its own is a write to every backend and, with BDAT, a chunk the backend answers: most
 * messages are smaller than this and go in one write.
 */
const gatherBytes = 64 * 1024;

/**
 * Relays the client's message to every backend of the transaction as it arrives, put in wire
 * form once for all of them, nothing spooled here: the slowest backend sets the client's pace.
 * Pieces gather up to `gatherBytes`, and the newest is held until the next one or the end, so
 * the terminator (or BDAT LAST) leaves with the message's last bytes: a small message is one
 * write to each backend. A message that turns out to be a mail loop or too big, or whose client
 * went away, is given up: no backend gets the terminator, so none keeps it. The relay is the
 * message's reader; a `tap` (the journal's fingerprint) sees every piece before it.
 */
export class MessageRelay implements MessageReader {
  readonly outlets: readonly Outlet[];
  readonly #stream: ClientMessage;
  readonly #tap: MessageReader | undefined;
  readonly #maxReceived: number;
  /** Only for the kinds of backend this message goes to. */
  readonly #data: DotStuffer | undefined;
  readonly #bdat: DotStuffer | undefined;
  readonly #loop = new ReceivedCounter();
  /** Pieces not sent yet, in each wire form this message needs, and their size as received. */
  #heldData: Buffer[] = [];
  #heldBdat: Buffer[] = [];
  #heldBytes = 0;
  #givenUp = false;
  #tooManyHops = false;
  /** The message was read to its end or given up by the client; and who waits for that. */
  #over = false;
  #onOver: (() => void) | undefined;

  /** `maxReceived`: more `Received:` headers than this is a mail loop (RFC 5321 §6.3). */
  constructor(
    stream: ClientMessage,
    targets: readonly { readonly target: DataTarget; readonly prefix?: Buffer | undefined }[],
    maxReceived: number,
    tap?: MessageReader,
  ) {
    this.#stream = stream;
    this.#tap = tap;
    this.#maxReceived = maxReceived;
    this.outlets = targets.map((t) => new Outlet(t.target, t.prefix));
    const chunking = this.outlets.map((o) => o.chunking);
    this.#data = chunking.includes(false) ? new DotStuffer() : undefined;
    this.#bdat = chunking.includes(true) ? new DotStuffer({ dots: false }) : undefined;
    // Last: what the client sent so far comes at once.
    stream.read(this);
  }

  /** The message carried more Received headers than allowed: it was given up. */
  get tooManyHops(): boolean {
    return this.#tooManyHops;
  }

  /** Resolves once the client's message has been read to its end (or given up by the client). */
  ended(): Promise<void> {
    if (this.#over) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const before = this.#onOver;
      this.#onOver = () => {
        before?.();
        resolve();
      };
    });
  }

  /** MessageReader: a piece of the client's message. */
  data(chunk: Buffer): void {
    this.#tap?.data(chunk);
    if (this.#givenUp) return;
    // The counter looks at the header section only; past it, push returns at once.
    this.#loop.push(chunk);
    if (this.#loop.count > this.#maxReceived) {
      this.#tooManyHops = true;
      this.#giveUp(new Error('mail loop'));
      return;
    }
    if (this.#heldBytes >= gatherBytes) this.#send(this.#take(), false);
    if (this.#data) this.#heldData.push(this.#data.stuff(chunk));
    if (this.#bdat) this.#heldBdat.push(this.#bdat.stuff(chunk));
    this.#heldBytes += chunk.length;
  }

  /** MessageReader: the end of the client's message. */
  end(): void {
    this.#tap?.end();
    if (!this.#givenUp) {
      if (this.#stream.sizeExceeded) this.#giveUp(new Error('message too big'));
      else {
        const tails = [this.#data?.end(), this.#bdat?.end()];
        if (tails[0]?.length) this.#heldData.push(tails[0]);
        if (tails[1]?.length) this.#heldBdat.push(tails[1]);
        this.#send(this.#take(), true);
      }
    }
    this.#settle();
  }

  /** MessageReader: the client went away before the end. */
  abort(): void {
    this.#tap?.abort();
    this.#giveUp(new Error('the client went away during DATA'));
    this.#settle();
  }

  #settle(): void {
    this.#over = true;
    const onOver = this.#onOver;
    this.#onOver = undefined;
    onOver?.();
  }

  #send(piece: Piece, last: boolean): void {
    const waits: Promise<void>[] = [];
    for (const outlet of this.outlets) {
      const wait = outlet.send(outlet.chunking ? piece.bdat : piece.data, last);
      if (wait) waits.push(wait);
    }
    if (waits.length === 0) return;
    const stream = this.#stream;
    stream.pause();
    void Promise.all(waits).then(() => stream.resume());
  }

  /** What gathered so far, each wire form in one buffer. */
  #take(): Piece {
    const piece = { data: joined(this.#heldData), bdat: joined(this.#heldBdat) };
    this.#heldData = [];
    this.#heldBdat = [];
    this.#heldBytes = 0;
    return piece;
  }

  #giveUp(error: Error): void {
    if (this.#givenUp) return;
    this.#givenUp = true;
    this.#heldData = [];
    this.#heldBdat = [];
    for (const outlet of this.outlets) outlet.giveUp(error);
    // The rest of the message is still read, so that the client gets its reply.
    this.#stream.resume();
  }
}

function joined(buffers: readonly Buffer[]): Buffer {
  if (buffers.length === 0) return NOTHING;
  return buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers);
}
