import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Cancellation } from './deadline.js';
import { LineReader } from './line-reader.js';
import { connectTls } from './tls.js';

/** A failure worded for the operator; anything else thrown is prefixed with the probe's stage. */
export class ProbeError extends Error {}

const maxLineBytes = 8192;

export function ignore(): void {}

/** Reads lines and writes commands on a probe connection, all under one deadline. */
export class Dialogue {
  #reader: LineReader;
  #tag = 0;
  /** The capability lines of a greeting that is a capability list (ManageSieve). */
  capabilities: readonly string[] | undefined;

  constructor(
    private socket: Socket | TLSSocket,
    private readonly signal: Cancellation,
    private readonly tlsOptions: ConnectionOptions,
    private readonly sockets: Socket[],
  ) {
    this.#reader = new LineReader(socket, maxLineBytes);
  }

  async read(): Promise<string> {
    return (await this.#reader.readLine(this.signal)).toString('utf8');
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** Sends an IMAP command under a fresh tag; returns its tagged reply without the tag. */
  async imap(command: string): Promise<string> {
    this.#tag += 1;
    const tag = `p${this.#tag}`;
    this.send(`${tag} ${command}`);
    for (;;) {
      const line = await this.read();
      if (line.startsWith(`${tag} `)) return line.slice(tag.length + 1);
    }
  }

  /** TLS on the same connection, after the server agreed to STARTTLS / STLS. */
  async secure(): Promise<void> {
    // Bytes after the server's go-ahead and before the handshake could be injected: refuse.
    if (this.#reader.detach().length > 0) throw new ProbeError('STARTTLS: data before handshake');
    this.socket = await connectTls(this.socket as Socket, this.tlsOptions, this.signal);
    this.sockets.push(this.socket.on('error', ignore));
    this.#reader = new LineReader(this.socket, maxLineBytes);
  }
}
