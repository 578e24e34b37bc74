import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { BackendLines, type Cancellation } from '@homing/proxy-core';
import { type Pop3Reply, parseReply } from './reply.js';

/** At most this many SASL challenges are answered before the proxy gives up on a backend. */
const MAX_CHALLENGES = 3;

/** The proxy's side of a pre-login POP3 conversation with a backend: one reply per command. */
export class Pop3Backend {
  readonly #lines: BackendLines;

  /** The backend's socket: its TLS socket once STARTTLS is done. */
  get socket(): Socket | TLSSocket {
    return this.#lines.socket;
  }
  /** The greeting offered XCLIENT (Dovecot's POP3 says `+OK [XCLIENT] …` to trusted peers). */
  xclient = false;
  /** The client's address was handed over (or could not be): the login does not do it again. */
  forwarded = false;

  constructor(
    socket: Socket | TLSSocket,
    readonly maxLineBytes: number,
  ) {
    this.#lines = new BackendLines(socket, maxLineBytes);
  }

  /** Reads the greeting (RFC 1939 §4); false when the backend is not ready to serve. */
  async greeting(signal: Cancellation): Promise<boolean> {
    const reply = await this.#read(signal);
    if (reply.status !== 'ok') return false;
    this.xclient = reply.code?.toUpperCase() === 'XCLIENT';
    return true;
  }

  /** STLS (RFC 2595 §4), then the TLS handshake within the same deadline. */
  async startTls(options: ConnectionOptions, signal: Cancellation): Promise<boolean> {
    const reply = await this.command('STLS', signal);
    if (reply.status !== 'ok') return false;
    if (!(await this.#lines.startTls(options, signal))) return false;
    return true;
  }

  /** Sends one command line and reads its status line. */
  command(line: string, signal: Cancellation): Promise<Pop3Reply> {
    this.socket.write(`${line}\r\n`);
    return this.#read(signal);
  }

  /**
   * AUTH with an initial response (RFC 5034 §4; "=" when it is empty). A challenge is answered
   * by `answer` (base64, without CRLF); without one the exchange is cancelled with "*".
   */
  async authenticate(
    mechanism: string,
    initial: Buffer,
    signal: Cancellation,
    answer?: (challenge: Pop3Reply) => string | undefined,
  ): Promise<Pop3Reply> {
    const response = initial.length === 0 ? '=' : initial.toString('base64');
    let reply = await this.command(`AUTH ${mechanism} ${response}`, signal);
    for (let n = 0; reply.status === 'challenge'; n += 1) {
      if (n === MAX_CHALLENGES) throw new Error('backend keeps sending SASL challenges');
      reply = await this.command(answer?.(reply) ?? '*', signal);
    }
    return reply;
  }

  /** Stops reading; returns bytes that arrived after the last reply. */
  detach(): Buffer {
    return this.#lines.reader.detach();
  }

  async #read(signal: Cancellation): Promise<Pop3Reply> {
    const line = await this.#lines.reader.readLine(signal);
    const reply = parseReply(line);
    if (!reply) throw new Error(`unexpected backend reply: ${line.toString('utf8').slice(0, 200)}`);
    return reply;
  }
}
