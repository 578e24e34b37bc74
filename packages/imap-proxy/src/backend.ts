import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { BackendLines, type Cancellation } from '@homing/proxy-core';
import type { Astring } from './quote.js';

export interface TaggedResponse {
  readonly status: 'OK' | 'NO' | 'BAD';
  /** The response code, e.g. `CAPABILITY IMAP4rev1 …` or `AUTHENTICATIONFAILED`. */
  readonly code: string | undefined;
  readonly text: string;
  /** Untagged lines that came before it, raw (with CRLF), in order. */
  readonly untagged: Buffer[];
}

const TAGGED = /^(\S+) (OK|NO|BAD)(?: \[([^\]]*)\])? ?(.*)$/i;

/** The proxy's side of a pre-login IMAP conversation with a backend. */
export class ImapBackend {
  readonly #lines: BackendLines;

  /** The backend's socket: its TLS socket once STARTTLS is done. */
  get socket(): Socket | TLSSocket {
    return this.#lines.socket;
  }
  #tag = 0;
  /** Tags of commands sent ahead whose replies are still to come. */
  readonly #ahead = new Set<string>();
  /** Commands sent ahead, written with the next command: one write, one segment. */
  #pending = '';
  /** The last capability list the backend sent (greeting, response code or CAPABILITY). */
  #capabilityText = '';
  #capabilities: Set<string> | undefined;

  constructor(
    socket: Socket | TLSSocket,
    readonly maxLineBytes: number,
  ) {
    this.#lines = new BackendLines(socket, maxLineBytes);
  }

  /** Reads the greeting; false when the backend is not ready (BYE, PREAUTH, garbage). */
  async greeting(signal: Cancellation): Promise<boolean> {
    const line = (await this.#lines.reader.readLine(signal)).toString('utf8');
    if (!/^\* OK\b/i.test(line)) return false;
    this.#noteCapabilities(line);
    return true;
  }

  async startTls(options: ConnectionOptions, signal: Cancellation): Promise<boolean> {
    const response = await this.command('STARTTLS', [], signal);
    if (response.status !== 'OK') return false;
    if (!(await this.#lines.startTls(options, signal))) return false;
    this.#capabilityText = '';
    this.#capabilities = undefined;
    return true;
  }

  /** Capabilities the backend announced last, parsed when first asked for. */
  get capabilities(): ReadonlySet<string> {
    this.#capabilities ??= new Set(
      this.#capabilityText
        .trim()
        .split(/\s+/)
        .filter((c) => c !== '')
        .map((c) => c.toUpperCase()),
    );
    return this.#capabilities;
  }

  /** Sends `TAG NAME args` (strings already encoded as astrings) and reads up to the tagged reply. */
  command(
    name: string,
    args: (string | Astring)[],
    signal: Cancellation,
    onContinue?: (line: string) => Buffer | undefined,
  ): Promise<TaggedResponse> {
    this.#tag += 1;
    const tag = `H${this.#tag}`;
    let head = `${tag} ${name}`;
    for (let i = 0; i < args.length; i += 1) {
      const arg = args[i] as string | Astring;
      if (isLiteral(arg)) return this.#withLiterals(tag, head, args.slice(i), signal, onContinue);
      head += wordOf(arg);
    }
    this.#write(`${head}\r\n`);
    return this.#until(tag, signal, onContinue);
  }

  /**
   * `command` from its first literal on (`head`: the command up to it): each literal rides along
   * (LITERAL+) or waits for the backend's "+".
   */
  async #withLiterals(
    tag: string,
    commandHead: string,
    args: (string | Astring)[],
    signal: Cancellation,
    onContinue?: (line: string) => Buffer | undefined,
  ): Promise<TaggedResponse> {
    let head = commandHead;
    const literals: { head: string; bytes: Buffer }[] = [];
    // The capability list is parsed only for a command that has literals to send.
    let literalPlus: boolean | undefined;
    for (const arg of args) {
      if (!isLiteral(arg)) {
        head += wordOf(arg);
        continue;
      }
      literalPlus ??= this.capabilities.has('LITERAL+');
      literals.push({
        head: `${head} {${arg.literal.length}${literalPlus ? '+' : ''}}\r\n`,
        bytes: arg.literal,
      });
      head = '';
    }
    // Each literal either rides along (LITERAL+) or waits for the backend's "+".
    for (const literal of literals) {
      this.#write(literal.head);
      if (!literalPlus) {
        const line = await this.#readLine(signal);
        if (!line.startsWith('+')) return this.#tagged(tag, line, [], signal);
      }
      this.socket.write(literal.bytes);
    }
    this.#write(`${head}\r\n`);
    return this.#until(tag, signal, onContinue);
  }

  #write(text: string): void {
    this.socket.write(this.#pending === '' ? text : this.#pending + text);
    this.#pending = '';
  }

  /**
   * Queues a one-line command (no literals) that goes out with the next command, without
   * waiting for its reply (RFC 9051 §5.5); its untagged and tagged replies are read and dropped
   * by that next `command`. For commands whose answer does not matter, like ID.
   */
  sendAhead(name: string, args: string[]): void {
    this.#tag += 1;
    const tag = `H${this.#tag}`;
    this.#ahead.add(tag);
    this.#pending += `${tag} ${name}${args.map((a) => ` ${a}`).join('')}\r\n`;
  }

  /** Stops reading; returns bytes that arrived after the last reply. */
  detach(): Buffer {
    return this.#lines.reader.detach();
  }

  async #until(
    tag: string,
    signal: Cancellation,
    onContinue?: (line: string) => Buffer | undefined,
  ): Promise<TaggedResponse> {
    let untagged: Buffer[] = [];
    for (;;) {
      // A line that came with the one before it is taken in this turn, without a promise.
      const raw = this.#lines.reader.takeLine() ?? (await this.#lines.reader.readLine(signal));
      const text = this.#text(raw, signal);
      const line = typeof text === 'string' ? text : await text;
      const sentAhead = /^(\S+) /.exec(line)?.[1];
      if (sentAhead && this.#ahead.delete(sentAhead)) {
        untagged = []; // what came before belonged to the command sent ahead
        continue;
      }
      if (line.startsWith('+')) {
        const answer = onContinue?.(line);
        // A challenge we have no answer for: cancel (RFC 9051 §6.2.2).
        this.socket.write(answer ? Buffer.concat([answer, Buffer.from('\r\n')]) : '*\r\n');
        continue;
      }
      if (line.startsWith('* ')) {
        this.#noteCapabilities(line);
        untagged.push(Buffer.from(`${line}\r\n`, 'utf8'));
        continue;
      }
      return this.#tagged(tag, line, untagged, signal);
    }
  }

  #tagged(tag: string, line: string, untagged: Buffer[], _signal: Cancellation): TaggedResponse {
    const match = TAGGED.exec(line);
    if (!match || match[1] !== tag) {
      return {
        status: 'BAD',
        code: undefined,
        text: `unexpected backend reply: ${line.slice(0, 200)}`,
        untagged,
      };
    }
    const status = (match[2] as string).toUpperCase() as TaggedResponse['status'];
    const code = match[3];
    if (code) this.#noteCapabilities(`[${code}]`);
    return { status, code, text: match[4] ?? '', untagged };
  }

  /** Reads a line, folding in any literal it announces (`{n}` at its end). */
  async #readLine(signal: Cancellation): Promise<string> {
    return this.#text(await this.#lines.reader.readLine(signal), signal);
  }

  /** A line as text; one that announces literals waits for them to be folded in. */
  #text(raw: Buffer, signal: Cancellation): string | Promise<string> {
    const line = raw.toString('utf8');
    return line.endsWith('}') ? this.#foldLiterals(line, signal) : line;
  }

  /** A line with the literals it announces (`{n}` at its end) folded in as quoted strings. */
  async #foldLiterals(first: string, signal: Cancellation): Promise<string> {
    let line = first;
    for (let spec = /\{(\d+)\}$/.exec(line); spec; spec = /\{(\d+)\}$/.exec(line)) {
      const size = Number(spec[1]);
      if (size > this.maxLineBytes) throw new Error('backend literal too large before login');
      const literal = await this.#lines.reader.readBytes(size, signal);
      const rest = (await this.#lines.reader.readLine(signal)).toString('utf8');
      line = `${line.slice(0, spec.index)}"${literal.toString('utf8').replaceAll('"', "'")}"${rest}`;
    }
    return line;
  }

  #noteCapabilities(line: string): void {
    const match = /(?:\[|^\* )CAPABILITY ([^\]\r\n]*)/i.exec(line);
    if (!match) return;
    this.#capabilityText = match[1] as string;
    this.#capabilities = undefined;
  }
}

function isLiteral(arg: string | Astring): arg is { readonly literal: Buffer } {
  return typeof arg !== 'string' && 'literal' in arg;
}

/** An argument that is not a literal as it goes on the command line, with its leading space. */
function wordOf(arg: string | { readonly quoted: string }): string {
  return typeof arg === 'string' ? ` ${arg}` : ` ${arg.quoted}`;
}
