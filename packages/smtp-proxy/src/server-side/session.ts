import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type {
  ClientConnection,
  Limits,
  ServerTls,
  SessionEntry,
  SessionInfo,
  SessionRegistry,
} from '@homing/proxy-core';
import type { ClientMessage } from '../message-relay.js';
import { type SmtpAddress, tooBig } from './address.js';
import { AuthExchange, type Authenticator, type AuthSetup } from './auth.js';
import { type CommandOptions, parseCommand, type SmtpCommand } from './command.js';
import { DotReader } from './dot-reader.js';
import { IncomingMessage } from './incoming-message.js';
import {
  authLines,
  errorLine,
  type HostLines,
  refusalLine,
  replyLine,
  sessionLines as say,
} from './replies.js';

/** What the router knows of the session: the client's name, TLS, the id in trace headers. */
export interface SessionFacts {
  readonly id: string;
  /** The name from HELO/EHLO/LHLO, lower-cased; '' before it. */
  readonly hostNameAppearsAs: string;
  readonly secure: boolean;
}

/**
 * What takes the session's transactions: the MX's and LMTP's router, submission's Submission
 * (which alone has `auth`).
 */
export interface EnvelopeHandler extends Partial<Authenticator> {
  mail(from: SmtpAddress, session: SessionFacts): Promise<void>;
  rcpt(to: SmtpAddress, session: SessionFacts): Promise<void>;
  /** SMTP: the one reply's text; LMTP: one per recipient (an Error for a refusal). */
  data(stream: ClientMessage, session: SessionFacts): Promise<string | (string | Error)[]>;
  close(): void;
}

/** Everything a listener's sessions share, made once when it starts. */
export interface SessionSetup {
  readonly lmtp: boolean;
  readonly protocol: 'smtp' | 'lmtp' | 'submission';
  readonly command: CommandOptions;
  /** Submission: AUTH is offered (command.auth) and needed before MAIL. */
  readonly auth: AuthSetup | undefined;
  readonly lines: HostLines;
  /** EHLO's first line without the client's address: `250-name Nice to meet you, `. */
  readonly ehloFirst: string;
  /** The capability lines after the first, before and after TLS. */
  readonly ehloPlain: string;
  readonly ehloSecure: string;
  /** The same once AUTH succeeded: no AUTH line any more (RFC 4954 §4). */
  readonly ehloPlainUser: string;
  readonly ehloSecureUser: string;
  readonly heloFirst: string;
  readonly limits: Limits;
  readonly maxRecipients: number;
  readonly greetingDelayMs: number;
  /** Set when the listener offers STARTTLS. */
  readonly startTls: ServerTls | undefined;
  readonly registry: SessionRegistry;
}

enum Mode {
  Command,
  /** A line was too long: everything up to its end is dropped. */
  Skip,
  Data,
  Bdat,
}

const LF = 0x0a;
const CR = 0x0d;
const NOTHING = Buffer.alloc(0);
const ignoreErrors = (): void => {};
/** Unread input held while a command waits for a backend; past it the client is not read. */
const maxHeldInput = 64 * 1024;
/** Unknown and malformed commands before the session is closed (reset by each message). */
const maxBadCommands = 10;
/** How long a session this side closed keeps its socket for the client to read the last reply. */
const closeLingerMs = 2000;

/** How a transaction's message ended, for its reply. */
type Outcome =
  | { readonly ok: true; readonly value: string | (string | Error)[] }
  | { readonly ok: false; readonly error: unknown };

const settled = (value: string | (string | Error)[]): Outcome => ({ ok: true, value });
const failed = (error: unknown): Outcome => ({ ok: false, error });

/**
 * One client of an MX, LMTP or submission listener, from the greeting to the close: a state
 * machine over the socket (RFC 5321, LMTP RFC 2033), its commands parsed by parseCommand, its
 * transactions handed to the EnvelopeHandler and submission's AUTH to its AuthExchange.
 * Replies to the commands of one read leave in one write (PIPELINING, RFC 2920 §3.1): they are
 * gathered until the input runs out. One timer serves the idle timeout and the line deadline.
 */
export class SmtpSession implements SessionEntry {
  readonly info: SessionInfo;
  readonly #conn: ClientConnection;
  readonly #setup: SessionSetup;
  readonly #handler: EnvelopeHandler;
  readonly #facts: { id: string; hostNameAppearsAs: string; secure: boolean };
  #socket: Socket | TLSSocket;
  #input: Buffer = NOTHING;
  #at = 0;
  #mode = Mode.Command;
  #out = '';
  #greeted = false;
  #busy = false;
  #closed = false;
  #clientEnded = false;
  #draining = false;
  #inputPaused = false;
  #messagePaused = false;
  #badCommands = 0;
  /** Submission's AUTH; undefined for MX and LMTP. */
  readonly #auth: AuthExchange | undefined;
  // The transaction.
  #mail = false;
  #utf8 = false;
  #pendingUtf8 = false;
  #recipients = 0;
  #usedBdat = false;
  #message: IncomingMessage | undefined;
  #outcome: Promise<Outcome> | undefined;
  #dot: DotReader | undefined;
  #bdatLeft = 0;
  #bdatLast = false;
  #bdatChunk = 0;
  /** A BDAT chunk read and dropped: the reply it gets once read. */
  #bdatRefusal: string | undefined;
  // Timers: one for idle and line deadline (PreloginSession's way).
  #timer: NodeJS.Timeout | undefined;
  #timerDueAt = Number.POSITIVE_INFINITY;
  #lastHeard = 0;
  #lineSince: number | undefined;
  /** The line deadline applies until the first MAIL is accepted. */
  #lineDeadlineOver: boolean;

  constructor(
    connection: ClientConnection,
    setup: SessionSetup,
    handler: EnvelopeHandler,
    kind: 'smtp' | 'lmtp' | 'submission',
  ) {
    this.#conn = connection;
    this.#setup = setup;
    this.#handler = handler;
    this.#socket = connection.socket;
    this.#facts = { id: connection.id, hostNameAppearsAs: '', secure: connection.secure };
    this.#lineDeadlineOver = setup.limits.lineTimeoutMs <= 0;
    this.#auth =
      setup.auth && handler.auth
        ? new AuthExchange(connection, setup.auth, handler as Authenticator, this.#facts)
        : undefined;
    this.info = {
      id: connection.id,
      protocol: kind,
      client: connection.client.address,
      since: new Date(),
    };
  }

  start(): void {
    this.#setup.registry.put(this);
    this.#attach(this.#socket);
    this.#lastHeard = performance.now();
    this.#arm(this.#setup.limits.idleTimeoutMs);
    const delay = this.#setup.greetingDelayMs;
    if (delay <= 0) {
      this.#greet();
      return;
    }
    setTimeout(this.#greet, delay).unref();
  }

  /** A transaction has begun (MAIL accepted) or a message or a backend's answer is awaited. */
  get inTransaction(): boolean {
    return this.#mail || this.#busy || this.#mode === Mode.Data || this.#mode === Mode.Bdat;
  }

  kick(_reason: string): void {
    this.#socket.destroy();
  }

  /** Drain: once no transaction is under way, 421 and close (RFC 5321 §3.8). */
  readonly drain = (): void => {
    this.#draining = true;
    if (!this.inTransaction) this.#close(this.#setup.lines.shutdown);
  };

  readonly #greet = (): void => {
    if (this.#closed) return;
    this.#greeted = true;
    this.#socket.write(this.#setup.lines.greeting);
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    this.#lastHeard = performance.now();
    if (!this.#greeted) {
      // Talking before the greeting: an early talker (what Postfix's postscreen refuses).
      this.#close(this.#setup.lines.earlyTalker);
      return;
    }
    if (this.#at >= this.#input.length) {
      this.#input = chunk;
      this.#at = 0;
    } else {
      this.#input = Buffer.concat([this.#input.subarray(this.#at), chunk]);
      this.#at = 0;
    }
    if (this.#busy) {
      if (this.#input.length > maxHeldInput) this.#pauseInput(true);
      return;
    }
    this.#pump();
  };

  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    // A message not complete by now never will be; a command in progress finishes first.
    if (!this.#busy) this.#close('');
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#setup.registry.remove(this.#conn.id);
    // A message whose reader did not have its end yet is given up.
    this.#message?.abort();
    this.#handler.close();
  };

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    // Closed by this side, and the client did not close in time: cut off.
    if (this.#closed) {
      this.#socket.destroy();
      return;
    }
    const now = performance.now();
    const { idleTimeoutMs } = this.#setup.limits;
    // Waiting for a backend is not the client's silence: the router has its own deadlines.
    if (this.#busy) {
      this.#arm(idleTimeoutMs);
      return;
    }
    const idleDueAt = this.#lastHeard + idleTimeoutMs;
    const lineDueAt = this.#lineDueAt();
    if (now >= idleDueAt) this.#close(this.#setup.lines.idle);
    else if (now >= lineDueAt) this.#close(this.#setup.lines.lineTimeout);
    else this.#arm(Math.min(idleDueAt, lineDueAt) - now);
  };

  readonly #resumeMessage = (): void => {
    if (!this.#messagePaused) return;
    this.#messagePaused = false;
    if (!this.#inputPaused && !this.#closed) this.#socket.resume();
  };

  readonly #afterBusy = (): void => {
    this.#busy = false;
    this.#lastHeard = performance.now();
    if (this.#closed) return;
    this.#pauseInput(false);
    this.#pump();
  };

  readonly #onFailure = (error: unknown): void => {
    this.#busy = false;
    this.#conn.log.error({ err: error }, 'smtp session failed');
    this.#close(say.internal);
  };

  /** Works through the input until it runs out or a command waits; then the replies leave. */
  #pump(): void {
    while (!this.#busy && !this.#closed && this.#at < this.#input.length) {
      const step = this.#step();
      if (step === false) break;
      if (step !== true) {
        this.#busy = true;
        step.then(this.#afterBusy, this.#onFailure);
        return;
      }
    }
    if (this.#closed) return;
    if (this.#at >= this.#input.length) {
      this.#input = NOTHING;
      this.#at = 0;
    }
    this.#flush();
    if (this.#clientEnded) {
      this.#close('');
      return;
    }
    if (this.#draining && !this.inTransaction) {
      this.#close(this.#setup.lines.shutdown);
      return;
    }
    this.#noteLine();
  }

  /** One command, or the message bytes at hand: true to go on, false for more input. */
  #step(): boolean | Promise<void> {
    switch (this.#mode) {
      case Mode.Command:
        return this.#nextLine();
      case Mode.Skip: {
        const lf = this.#input.indexOf(LF, this.#at);
        if (lf < 0) {
          this.#at = this.#input.length;
          return false;
        }
        this.#at = lf + 1;
        this.#mode = Mode.Command;
        return true;
      }
      case Mode.Data: {
        const chunk = this.#at === 0 ? this.#input : this.#input.subarray(this.#at);
        const read = (this.#dot as DotReader).push(chunk);
        this.#at += read.consumed;
        this.#add(read.bytes);
        return read.ended ? this.#endMessage() : true;
      }
      case Mode.Bdat: {
        const take = Math.min(this.#bdatLeft, this.#input.length - this.#at);
        if (this.#message) this.#add(this.#input.subarray(this.#at, this.#at + take));
        this.#at += take;
        this.#bdatLeft -= take;
        return this.#bdatLeft > 0 ? true : this.#chunkRead();
      }
    }
  }

  #nextLine(): boolean | Promise<void> {
    const input = this.#input;
    const start = this.#at;
    const { lineBytes } = this.#setup.limits;
    const lf = input.indexOf(LF, start);
    if (lf < 0) {
      // Room for the longest line and its CR (RFC 5321 §4.5.3.1.4 is 512 with CRLF).
      const held = input.length - start;
      if (held <= lineBytes + 1 || held <= this.#longLineLimit(input, start) + 1) return false;
      this.#at = input.length;
      this.#mode = Mode.Skip;
      return this.#bad(say.lineTooLong);
    }
    this.#at = lf + 1;
    // A line came whole: the next one's deadline starts with its own first byte.
    this.#lineSince = undefined;
    const end = lf > start && input[lf - 1] === CR ? lf - 1 : lf;
    if (end - start > lineBytes && end - start > this.#longLineLimit(input, start)) {
      this.#auth?.abandon();
      return this.#bad(say.lineTooLong);
    }
    const auth = this.#auth;
    if (auth?.awaitsResponse)
      return this.#said(auth.response(input.toString('latin1', start, end)));
    return this.#command(parseCommand(input.subarray(start, end), this.#setup.command, this.#utf8));
  }

  /** The longest line taken once a line is past `limits.lineBytes`: AUTH's may be longer. */
  #longLineLimit(input: Buffer, start: number): number {
    return this.#auth ? this.#auth.lineLimit(input, start) : this.#setup.limits.lineBytes;
  }

  #command(command: SmtpCommand): boolean | Promise<void> {
    switch (command.verb) {
      case 'invalid':
        if (command.refusal.close) {
          this.#close(refusalLine(command.refusal));
          return false;
        }
        return this.#bad(refusalLine(command.refusal));
      case 'unknown':
        return this.#bad(say.unknown);
      case 'http':
        this.#close(say.http);
        return false;
      case 'EHLO':
      case 'LHLO':
        this.#hello(command.domain);
        return this.#reply(
          `${this.#setup.ehloFirst}[${this.#conn.client.address}]\r\n${this.#ehlo()}`,
        );
      case 'HELO':
        this.#hello(command.domain);
        return this.#reply(`${this.#setup.heloFirst}[${this.#conn.client.address}]\r\n`);
      case 'MAIL':
        return this.#mailFrom(command.path);
      case 'RCPT':
        return this.#rcptTo(command.path);
      case 'DATA':
        return this.#data();
      case 'BDAT':
        return this.#bdat(command.size, command.last);
      case 'RSET':
        this.#resetTransaction();
        return this.#reply(say.rset);
      case 'NOOP':
        return this.#reply(say.noop);
      case 'HELP':
        return this.#reply(say.help);
      case 'VRFY':
        return this.#reply(say.vrfy);
      case 'QUIT':
        this.#close(say.quit);
        return false;
      case 'STARTTLS':
        return this.#startTls();
      case 'AUTH':
        if (!this.#auth) return this.#said(say.unknown);
        return this.#said(this.#auth.command(command.mechanism, command.initial, this.#mail));
    }
  }

  /** What AUTH says, now or once its answer came. */
  #said(lines: string | Promise<string>): true | Promise<void> {
    if (typeof lines === 'string') return this.#reply(lines);
    return lines.then((later) => {
      this.#reply(later);
    });
  }

  #ehlo(): string {
    const { ehloSecure, ehloPlain, ehloSecureUser, ehloPlainUser } = this.#setup;
    if (this.#auth?.user !== undefined) return this.#facts.secure ? ehloSecureUser : ehloPlainUser;
    return this.#facts.secure ? ehloSecure : ehloPlain;
  }

  #hello(domain: string): void {
    // RFC 5321 §4.1.4: HELO/EHLO in a session resets the transaction.
    this.#facts.hostNameAppearsAs = domain;
    this.#resetTransaction();
  }

  #helloFirst(): boolean {
    if (this.#facts.hostNameAppearsAs !== '') return false;
    return this.#reply(this.#setup.lmtp ? say.lhloFirst : say.helloFirst);
  }

  #mailFrom(path: SmtpAddress): boolean | Promise<void> {
    if (this.#helloFirst()) return true;
    if (this.#mail) {
      return this.#reply(say.nestedMail);
    }
    if (this.#setup.auth && this.#auth?.user === undefined) {
      return this.#reply(authLines.needed);
    }
    this.#pendingUtf8 = path.args !== false && path.args.SMTPUTF8 === true;
    return this.#handler.mail(path, this.#facts).then(this.#mailAccepted, this.#refused);
  }

  readonly #mailAccepted = (): void => {
    this.#mail = true;
    this.#utf8 = this.#pendingUtf8;
    this.#lineDeadlineOver = true;
    this.#lineSince = undefined;
    this.#reply(say.mailOk);
  };

  #rcptTo(path: SmtpAddress): boolean | Promise<void> {
    if (this.#helloFirst()) return true;
    if (!this.#mail) {
      return this.#reply(say.needMail);
    }
    if (this.#recipients >= this.#setup.maxRecipients) {
      return this.#reply(say.tooManyRecipients);
    }
    return this.#handler.rcpt(path, this.#facts).then(this.#rcptAccepted, this.#refused);
  }

  readonly #rcptAccepted = (): void => {
    this.#recipients += 1;
    this.#reply(say.rcptOk);
  };

  readonly #refused = (error: unknown): void => {
    this.#reply(errorLine(error, this.#conn));
  };

  /** Whether a message may start now; if not, the reply that says why is given. */
  #messageRefusal(): string | undefined {
    if (this.#facts.hostNameAppearsAs === '')
      return this.#setup.lmtp ? say.lhloFirst : say.helloFirst;
    if (!this.#mail) return say.needMail;
    if (this.#recipients === 0) return say.needRcpt;
    return undefined;
  }

  #data(): boolean {
    const refusal = this.#messageRefusal() ?? (this.#usedBdat ? say.dataAfterBdat : undefined);
    if (refusal) {
      return this.#reply(refusal);
    }
    this.#startMessage();
    this.#dot ??= new DotReader();
    this.#dot.reset();
    this.#mode = Mode.Data;
    return this.#reply(say.startData);
  }

  /** BDAT (RFC 3030): the chunk's bytes follow the command at once, whatever the reply. */
  #bdat(size: number, last: boolean): boolean | Promise<void> {
    this.#bdatLeft = size;
    this.#bdatChunk = size;
    this.#bdatLast = last;
    this.#mode = Mode.Bdat;
    this.#bdatRefusal = this.#message ? undefined : this.#messageRefusal();
    if (!this.#bdatRefusal && !this.#message) {
      this.#usedBdat = true;
      this.#startMessage();
    }
    return this.#bdatLeft > 0 ? true : this.#chunkRead();
  }

  #chunkRead(): boolean | Promise<void> {
    this.#mode = Mode.Command;
    const message = this.#message;
    if (this.#bdatRefusal || !message) {
      this.#reply(this.#bdatRefusal ?? say.needMail);
      this.#bdatRefusal = undefined;
      return true;
    }
    // RFC 3030 §2: a chunk past the limit ends the transaction with 552.
    if (this.#bdatLast || message.sizeExceeded) return this.#endMessage();
    return this.#reply(`250 2.0.0 ${this.#bdatChunk} octets received\r\n`);
  }

  #startMessage(): void {
    const message = new IncomingMessage(this.#setup.command.maxMessageBytes, this.#resumeMessage);
    this.#message = message;
    this.#outcome = this.#handler.data(message, this.#facts).then(settled, failed);
  }

  /** Message bytes for the router; the client waits while its reader is behind. */
  #add(bytes: Buffer): void {
    const message = this.#message as IncomingMessage;
    if (!message.add(bytes) && !this.#messagePaused) {
      this.#messagePaused = true;
      this.#socket.pause();
    }
  }

  /** The message is complete: its reply once the backends answered. */
  #endMessage(): Promise<void> {
    this.#mode = Mode.Command;
    const message = this.#message as IncomingMessage;
    message.finish();
    const outcome = this.#outcome as Promise<Outcome>;
    return outcome.then((result) => this.#answer(message, result));
  }

  #answer(message: IncomingMessage, result: Outcome): void {
    const { lmtp } = this.#setup;
    // LMTP answers each recipient (RFC 2033 §4.2); SMTP the message once.
    const count = lmtp ? this.#recipients : 1;
    let lines = '';
    if (message.sizeExceeded) {
      lines = refusalLine(tooBig(this.#setup.command.maxMessageBytes)).repeat(count);
    } else if (!result.ok) {
      lines = errorLine(result.error, this.#conn).repeat(count);
    } else if (Array.isArray(result.value)) {
      for (const r of result.value)
        lines += typeof r === 'string' ? replyLine(250, r) : errorLine(r, this.#conn);
    } else lines = replyLine(250, result.value).repeat(count);
    this.#reply(lines);
    this.#badCommands = 0;
    this.#resetTransaction();
  }

  #resetTransaction(): void {
    this.#mail = false;
    this.#utf8 = false;
    this.#recipients = 0;
    this.#usedBdat = false;
    this.#message = undefined;
    this.#outcome = undefined;
  }

  /** STARTTLS (RFC 3207): what the client pipelined after it is dropped, and so is the session state. */
  #startTls(): boolean | Promise<void> {
    const tls = this.#setup.startTls;
    if (!tls) {
      return this.#reply(say.noTls);
    }
    if (this.#facts.secure) {
      return this.#reply(say.tlsActive);
    }
    this.#reply(say.startTls);
    this.#flush();
    this.#input = NOTHING;
    this.#at = 0;
    return this.#upgrade(tls);
  }

  async #upgrade(tls: ServerTls): Promise<void> {
    const plain = this.#socket as Socket;
    this.#detach(plain);
    while (plain.read() !== null);
    try {
      const secure = await tls.accept(plain, AbortSignal.timeout(this.#setup.limits.idleTimeoutMs));
      this.#socket = secure;
      this.#conn.socket = secure;
      this.#conn.secure = true;
      this.#facts.secure = true;
      // RFC 3207 §4.2: the client's name, any AUTH and any transaction are forgotten.
      this.#facts.hostNameAppearsAs = '';
      this.#auth?.forget();
      this.#resetTransaction();
      this.#attach(secure);
    } catch (error) {
      this.#conn.log.debug({ err: error }, 'TLS handshake failed');
      plain.destroy();
      this.#onClose();
    }
  }

  /** Unknown or malformed: said, and counted; too many end the session. */
  #bad(line: string): boolean {
    this.#badCommands += 1;
    if (this.#badCommands >= maxBadCommands) {
      this.#close(say.tooManyUnknown);
      return false;
    }
    return this.#reply(line);
  }

  /** Adds lines to the replies leaving after this read; true, for a command handled. */
  #reply(lines: string): true {
    this.#out += lines;
    return true;
  }

  #flush(): void {
    if (this.#out === '') return;
    const out = this.#out;
    this.#out = '';
    this.#socket.write(out);
  }

  /** Says the last words (if any) with what is gathered, ends the socket, lets it linger. */
  #close(last: string): void {
    if (this.#closed) return;
    this.#reply(last);
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    // The one timer now bounds the linger; the socket's close clears it.
    this.#timer = setTimeout(this.#onTimer, closeLingerMs).unref();
    this.#socket.end();
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', ignoreErrors);
    socket.resume();
  }

  #detach(socket: Socket | TLSSocket): void {
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
  }

  #pauseInput(pause: boolean): void {
    if (pause === this.#inputPaused) return;
    this.#inputPaused = pause;
    if (pause) this.#socket.pause();
    else if (!this.#messagePaused) this.#socket.resume();
  }

  #arm(ms: number): void {
    this.#timerDueAt = performance.now() + ms;
    this.#timer = setTimeout(this.#onTimer, ms);
  }

  #lineDueAt(): number {
    return this.#lineSince === undefined || this.#lineDeadlineOver
      ? Number.POSITIVE_INFINITY
      : this.#lineSince + this.#setup.limits.lineTimeoutMs;
  }

  /**
   * The line deadline (until the first MAIL): a command line must be complete within
   * `limits.line_timeout` of its first byte, however slowly it trickles.
   */
  #noteLine(): void {
    if (this.#lineDeadlineOver) return;
    if (this.#mode !== Mode.Command || this.#at >= this.#input.length) {
      this.#lineSince = undefined;
      return;
    }
    if (this.#lineSince !== undefined) return;
    this.#lineSince = this.#lastHeard;
    const due = this.#lineDueAt();
    if (due >= this.#timerDueAt) return;
    clearTimeout(this.#timer);
    this.#arm(due - performance.now());
  }
}
