import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import {
  type Cancellation,
  connectBackend,
  connectTls,
  LineReader,
  type Peer,
} from '@homing/proxy-core';
import type { DataTarget, Outlet } from './message-relay.js';
import { extensions, ReplyCollector, type SmtpReply } from './reply.js';

/**
 * How long a backend has to answer our QUIT and close before its socket is destroyed (RFC 5321
 * §4.1.1.10: the sender SHOULD wait for QUIT's reply). A constant, not a limit: the transaction
 * is over either way, and the wait only bounds how long a finished connection holds a socket.
 */
const quitLingerMs = 1000;

/** How long to wait for a reply: an abort signal, or milliseconds. */
export type Wait = Cancellation | number;

export interface SmtpBackendOptions {
  readonly host: string;
  readonly port: number;
  readonly lmtp: boolean;
  readonly tls: 'none' | 'starttls' | 'implicit';
  readonly tlsOptions: ConnectionOptions;
  /** PROXY v2 header with the client's address, where the backend entry asks for it. */
  readonly proxy?: { readonly source: Peer; readonly destination: Peer } | undefined;
  /** Our name in EHLO/LHLO. */
  readonly name: string;
  /** BDAT where the backend offers it (default); false: always DATA. */
  readonly chunking?: boolean | undefined;
  readonly maxLineBytes: number;
  /** Local addresses to connect from (backend_defaults.source_addresses); absent: any. */
  readonly sources?: readonly string[] | undefined;
}

/**
 * The proxy's SMTP/LMTP client towards one backend, one step at a time, so that a backend's
 * answer to each RCPT reaches the sender while it waits for that answer (RFC 5321 §4.1.1).
 */
export class SmtpBackend implements DataTarget {
  extensions = new Map<string, string>();
  /** Where the connection goes back to when a session is done with it; undefined: it is closed. */
  poolKey: string | undefined;
  #socket: Socket | TLSSocket;
  #reader: LineReader;
  #closed = false;
  /** When the reply awaited is overdue (performance.now()); 0 while none is awaited. */
  #dueAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  #timedOut: Error | undefined;

  private constructor(
    socket: Socket | TLSSocket,
    readonly options: SmtpBackendOptions,
  ) {
    this.#socket = socket;
    this.#reader = new LineReader(socket, options.maxLineBytes);
    socket.on('close', () => {
      this.#closed = true;
    });
    socket.on('error', () => {});
  }

  /** Connect, greeting, EHLO/LHLO and STARTTLS, all within `signal`'s deadline. */
  static async open(options: SmtpBackendOptions, signal: Cancellation): Promise<SmtpBackend> {
    const socket = await connectBackend(
      {
        host: options.host,
        port: options.port,
        implicitTls: options.tls === 'implicit',
        tlsOptions: options.tlsOptions,
        proxy: options.proxy,
        sources: options.sources,
      },
      signal,
    );
    return SmtpBackend.over(socket, options, signal);
  }

  /** Greeting, EHLO/LHLO and STARTTLS on a connection already open (implicit TLS done). */
  static async over(
    socket: Socket | TLSSocket,
    options: SmtpBackendOptions,
    signal: Cancellation,
  ): Promise<SmtpBackend> {
    const client = new SmtpBackend(socket, options);
    try {
      const greeting = await client.#read(signal);
      if (greeting.code !== 220)
        throw new Error(`greeting ${greeting.code} ${greeting.lines.join(' ')}`);
      await client.hello(signal);
      if (options.tls === 'starttls') {
        if (!client.extensions.has('STARTTLS')) throw new Error('backend does not offer STARTTLS');
        const ok = await client.command('STARTTLS', signal);
        if (ok.code !== 220) throw new Error(`STARTTLS refused: ${ok.code}`);
        client.#reader.detach();
        client.#socket = await connectTls(client.#socket as Socket, options.tlsOptions, signal);
        client.#reader = new LineReader(client.#socket, options.maxLineBytes);
        await client.hello(signal);
      }
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** The connection, for the login path's clean-up. */
  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** EHLO/LHLO with our name, or after XCLIENT with the client's own (Postfix XCLIENT_README). */
  async hello(wait: Wait, name = this.options.name): Promise<SmtpReply> {
    const reply = await this.command(`${this.options.lmtp ? 'LHLO' : 'EHLO'} ${name}`, wait);
    if (reply.code !== 250)
      throw new Error(`${this.options.lmtp ? 'LHLO' : 'EHLO'} refused: ${reply.code}`);
    this.extensions = extensions(reply);
    return reply;
  }

  /**
   * Sends several command lines in one write and reads one reply for each (RFC 2920), or one
   * after the other when the server does not offer PIPELINING.
   */
  async pipeline(lines: readonly string[], wait: Wait): Promise<SmtpReply[]> {
    if (!this.extensions.has('PIPELINING')) {
      const replies: SmtpReply[] = [];
      for (const line of lines) replies.push(await this.command(line, wait));
      return replies;
    }
    if (lines.some((line) => /[\r\n]/.test(line))) throw new Error('CR or LF in an SMTP command');
    this.#socket.write(lines.map((line) => `${line}\r\n`).join(''));
    const replies: SmtpReply[] = [];
    for (let i = 0; i < lines.length; i += 1) replies.push(await this.#read(wait));
    return replies;
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, wait: Wait): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) throw new Error('CR or LF in an SMTP command');
    this.#socket.write(`${line}\r\n`);
    return this.#read(wait);
  }

  /**
   * BDAT (RFC 3030) for the message when the backend offers it with PIPELINING: the chunks go
   * without waiting for a 354 or for each other's replies, and nothing is dot-stuffed.
   */
  get chunking(): boolean {
    return (
      this.options.chunking !== false &&
      this.extensions.has('CHUNKING') &&
      this.extensions.has('PIPELINING')
    );
  }

  /**
   * The message through `outlet` (see MessageRelay): DATA, its 354 and the message, or BDAT
   * chunks; then the replies to its end: one (SMTP) or one per accepted recipient (LMTP). Each
   * wait on the backend has `timeoutMs`; the message itself goes at the client's pace.
   */
  async data(outlet: Outlet, recipients: number, timeoutMs: number): Promise<SmtpReply[]> {
    if (!this.chunking) {
      const go = await this.command('DATA', timeoutMs);
      if (go.code !== 354) {
        outlet.drop();
        return this.#forEach(recipients, go);
      }
    }
    outlet.open();
    await outlet.done;
    // Every chunk but the last is answered once; a refused one fails the whole message.
    for (let i = 1; i < outlet.chunks; i += 1) {
      const reply = await this.#read(timeoutMs);
      if (reply.code >= 300) {
        this.destroy();
        return this.#forEach(recipients, reply);
      }
    }
    const replies: SmtpReply[] = [];
    for (let i = 0; i < (this.options.lmtp ? recipients : 1); i += 1)
      replies.push(await this.#read(timeoutMs));
    return replies;
  }

  /** One refusal for the whole message: LMTP gives it once per recipient. */
  #forEach(recipients: number, reply: SmtpReply): SmtpReply[] {
    return Array.from({ length: this.options.lmtp ? recipients : 1 }, () => reply);
  }

  /** Message bytes in wire form, in one write; false: wait for `drained()` before more. */
  write(parts: readonly Buffer[]): boolean {
    // A lost connection takes no more: the delivery fails when it reads the reply.
    if (this.#closed) return true;
    const socket = this.#socket;
    if (parts.length === 1) return socket.write(parts[0] as Buffer);
    // Corked, the parts (BDAT command, trace header, message) leave in one writev.
    socket.cork();
    let flowing = true;
    for (const part of parts) flowing = socket.write(part);
    socket.uncork();
    return flowing;
  }

  drained(): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /** Aborts a DATA in progress by closing the connection: without the final dot nothing is kept. */
  destroy(): void {
    clearTimeout(this.#timer);
    this.#closed = true;
    this.#socket.destroy();
  }

  close(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#closed = true;
    this.#socket.end('QUIT\r\n');
    setTimeout(() => this.#socket.destroy(), quitLingerMs).unref();
  }

  async #read(wait: Wait): Promise<SmtpReply> {
    if (typeof wait !== 'number') return this.#collect(wait);
    this.#dueAt = performance.now() + wait;
    this.#watch();
    try {
      return await this.#collect();
    } catch (error) {
      throw this.#timedOut ?? error;
    } finally {
      this.#dueAt = 0;
    }
  }

  async #collect(signal?: Cancellation): Promise<SmtpReply> {
    const collector = new ReplyCollector();
    for (;;) {
      const line = (await this.#reader.readLine(signal)).toString('utf8');
      const reply = collector.push(line);
      if (reply) return reply;
    }
  }

  /** One timer for the connection rather than one per command: it checks the due time when it fires. */
  #watch(): void {
    if (this.#timer && this.#timerAt <= this.#dueAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = this.#dueAt;
    this.#timer = setTimeout(this.#expire, this.#dueAt - performance.now());
    this.#timer.unref();
  }

  readonly #expire = () => {
    this.#timer = undefined;
    if (this.#dueAt === 0 || this.#closed) return;
    if (performance.now() < this.#dueAt) return this.#watch();
    // The conversation is out of step now: the connection cannot be used again.
    this.#timedOut = new Error('the mailbox server did not answer in time');
    this.destroy();
  };
}
