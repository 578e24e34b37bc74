import type { Socket } from 'node:net';
import type { BenchUser } from './cluster.js';
import { dial, type Endpoint } from './endpoint.js';
import { commandTimeoutMs } from './logins.js';
import { ResponseScanner } from './response-scanner.js';

/** The tagged completion of a command and the untagged responses before it (first lines). */
export interface Completion {
  readonly status: string;
  readonly line: string;
  readonly untagged: readonly string[];
}

/** What the client waits for: the greeting (no tag) or a command's tagged completion. */
interface Pending {
  readonly tag: string | undefined;
  readonly untagged: string[];
  resolve(completion: Completion): void;
  reject(error: Error): void;
}

const TAGGED = /^(\S+) (OK|NO|BAD)\b/i;

/**
 * A bare IMAP client on a raw socket: one command at a time, no parsing beyond finding the
 * tagged completion, so the client costs the same whoever it talks to. Every wait has a deadline.
 */
export class ImapClient {
  /** Every byte received, literals included. */
  bytesReceived = 0;
  readonly #socket: Socket;
  readonly #scanner: ResponseScanner;
  readonly #closed: Promise<void>;
  #tag = 0;
  #pending: Pending | undefined;
  #failure: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#scanner = new ResponseScanner((line) => this.#response(line));
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      try {
        this.#scanner.push(chunk);
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
  }

  /** Connects and reads the greeting, which must be `* OK`. */
  static async open(endpoint: Endpoint, timeoutMs: number): Promise<ImapClient> {
    const client = new ImapClient(dial(endpoint));
    const greeting = await client.#wait(undefined, 'the greeting', timeoutMs);
    if (!/^\* OK\b/i.test(greeting.line)) {
      client.destroy();
      throw new Error(`greeting on port ${endpoint.port}: ${greeting.line}`);
    }
    return client;
  }

  /** Literal bytes received (message data). */
  get literalBytes(): number {
    return this.#scanner.literalBytes;
  }

  /** Sends `TAG command` and waits for the tagged completion. */
  command(command: string, timeoutMs: number): Promise<Completion> {
    this.#tag += 1;
    const tag = `b${this.#tag}`;
    const done = this.#wait(tag, command.split(' ', 1)[0] ?? command, timeoutMs);
    this.#socket.write(`${tag} ${command}\r\n`);
    return done;
  }

  /** Runs a command that must complete with OK; anything else is an error naming `what`. */
  async ok(command: string, what: string, timeoutMs: number): Promise<Completion> {
    const completion = await this.command(command, timeoutMs);
    if (completion.status !== 'OK') throw new Error(`${what}: ${completion.line}`);
    return completion;
  }

  /** LOGOUT, then waits for the server to close the connection (RFC 9051 §6.1.3). */
  async logout(timeoutMs: number): Promise<void> {
    await this.ok('LOGOUT', 'LOGOUT', timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('still open after LOGOUT')), timeoutMs);
    });
    try {
      await Promise.race([this.#closed, late]);
    } finally {
      clearTimeout(timer);
      this.destroy();
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #wait(tag: string | undefined, what: string, timeoutMs: number): Promise<Completion> {
    return new Promise<Completion>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      const timer = setTimeout(() => {
        this.#pending = undefined;
        this.destroy();
        reject(new Error(`no answer to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending = {
        tag,
        untagged: [],
        resolve: (completion) => {
          clearTimeout(timer);
          resolve(completion);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  #response(line: string): void {
    const pending = this.#pending;
    if (!pending) return;
    if (pending.tag === undefined) {
      this.#pending = undefined;
      pending.resolve({ status: '', line, untagged: [] });
      return;
    }
    const tagged = TAGGED.exec(line);
    if (tagged?.[1] !== pending.tag) {
      pending.untagged.push(line);
      return;
    }
    this.#pending = undefined;
    pending.resolve({ status: (tagged[2] ?? '').toUpperCase(), line, untagged: pending.untagged });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#failure);
  }
}

/** An IMAP quoted string (RFC 9051 §4.3). */
export function quoted(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Connects and logs in; the caller owns the client. Any answer but OK is an error. */
export async function logIn(endpoint: Endpoint, user: BenchUser): Promise<ImapClient> {
  const client = await ImapClient.open(endpoint, commandTimeoutMs);
  try {
    await client.ok(
      `LOGIN ${quoted(user.address)} ${quoted(user.password)}`,
      `LOGIN ${user.address} on port ${endpoint.port}`,
      commandTimeoutMs,
    );
    return client;
  } catch (error) {
    client.destroy();
    throw error;
  }
}

/** One benchmark iteration: connect, greeting, LOGIN, SELECT INBOX, LOGOUT. */
export async function imapLoginCycle(endpoint: Endpoint, user: BenchUser): Promise<void> {
  const client = await logIn(endpoint, user);
  try {
    await client.ok('SELECT INBOX', `SELECT INBOX of ${user.address}`, commandTimeoutMs);
    await client.logout(commandTimeoutMs);
  } finally {
    client.destroy();
  }
}
