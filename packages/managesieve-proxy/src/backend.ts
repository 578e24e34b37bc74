import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { BackendLines, type Cancellation } from '@homing/proxy-core';
import { parseSieveLine, type SieveLine } from './response.js';

type Response = Extract<SieveLine, { kind: 'response' }>;

/** At most this many SASL challenges are answered before the proxy gives up on a backend. */
const MAX_CHALLENGES = 3;
/** Capability lines in one greeting; a backend that sends more is not a ManageSieve server. */
const MAX_CAPABILITY_LINES = 64;

/** A string that needs no escaping: what the proxy itself sends (base64 and addresses). */
function plainString(text: string): string {
  if (/["\\\r\n\0]/.test(text)) throw new Error('unexpected character in a backend argument');
  return `"${text}"`;
}

/** The proxy's side of a pre-login ManageSieve conversation with a backend. */
export class SieveBackend {
  readonly #lines: BackendLines;

  /** The backend's socket: its TLS socket once STARTTLS is done. */
  get socket(): Socket | TLSSocket {
    return this.#lines.socket;
  }
  /** The last capability list (RFC 5804 §1.7), names upper-cased. */
  capabilities = new Map<string, string | undefined>();

  constructor(
    socket: Socket | TLSSocket,
    readonly maxLineBytes: number,
  ) {
    this.#lines = new BackendLines(socket, maxLineBytes);
  }

  /** The greeting is a capability list and OK (RFC 5804 §1.7); false when not OK. */
  async greeting(signal: Cancellation): Promise<boolean> {
    return (await this.#readCapabilities(signal)).status === 'OK';
  }

  /** RFC 5804 §2.2: STARTTLS, the handshake, then the server sends its capabilities again. */
  async startTls(options: ConnectionOptions, signal: Cancellation): Promise<boolean> {
    const reply = await this.command('STARTTLS', signal);
    if (reply.status !== 'OK') return false;
    if (!(await this.#lines.startTls(options, signal))) return false;
    return (await this.#readCapabilities(signal)).status === 'OK';
  }

  /** Sends one command line and reads its response (capability lines are not expected). */
  async command(line: string, signal: Cancellation): Promise<Response> {
    this.socket.write(`${line}\r\n`);
    return this.#response(await this.#read(signal));
  }

  /**
   * Dovecot's XCLIENT (offered to its login_trusted_networks): ADDR, PORT and SESSION as
   * `NAME=value` atoms, answered by OK.
   */
  xclient(fields: Readonly<Record<string, string | number>>, signal: Cancellation) {
    const args = Object.entries(fields).map(([name, value]) => `${name}=${value}`);
    if (args.some((arg) => /[\s"\\]/.test(arg))) throw new Error('unexpected XCLIENT field');
    return this.command(`XCLIENT ${args.join(' ')}`, signal);
  }

  /**
   * AUTHENTICATE with an initial response (RFC 5804 §2.1). A challenge (a lone string) gets
   * `answer` (base64), or `"*"`, which cancels.
   */
  async authenticate(
    mechanism: string,
    initial: Buffer,
    signal: Cancellation,
    answer?: () => string,
  ): Promise<Response> {
    const command = `AUTHENTICATE ${plainString(mechanism)} ${plainString(initial.toString('base64'))}`;
    this.socket.write(`${command}\r\n`);
    for (let n = 0; ; n += 1) {
      const line = await this.#read(signal);
      if (line.kind === 'response') return line;
      if (n === MAX_CHALLENGES) throw new Error('backend keeps sending SASL challenges');
      this.socket.write(`${plainString(answer?.() ?? '*')}\r\n`);
    }
  }

  /** Stops reading; returns bytes that arrived after the last response. */
  detach(): Buffer {
    return this.#lines.reader.detach();
  }

  async #readCapabilities(signal: Cancellation): Promise<Response> {
    const capabilities = new Map<string, string | undefined>();
    for (let n = 0; n <= MAX_CAPABILITY_LINES; n += 1) {
      const line = await this.#read(signal);
      if (line.kind === 'response') {
        this.capabilities = capabilities;
        return line;
      }
      capabilities.set(line.name, line.value);
    }
    throw new Error('backend capability list does not end');
  }

  #response(line: SieveLine): Response {
    if (line.kind !== 'response') throw new Error(`unexpected backend line: "${line.name}"`);
    return line;
  }

  async #read(signal: Cancellation): Promise<SieveLine> {
    const raw = await this.#lines.reader.readLine(signal);
    const line = parseSieveLine(raw);
    if (!line) throw new Error(`unexpected backend line: ${raw.toString('utf8').slice(0, 200)}`);
    return line;
  }
}
