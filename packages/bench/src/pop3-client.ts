import type { BenchUser } from './cluster.js';
import { DotBodyReader } from './dot-body.js';
import type { Endpoint } from './endpoint.js';
import { LineClient, LineReader, type Reader } from './line-client.js';
import { commandTimeoutMs } from './logins.js';

const retrieveTimeoutMs = 60_000;

/** A status line (`+OK ...` or `-ERR ...`) and, for a multi-line +OK, the body's size. */
export interface Pop3Reply {
  readonly line: string;
  /** Message bytes without dot-stuffing and terminator; undefined without a body. */
  readonly bodyBytes: number | undefined;
}

/** A status line, then the dot-terminated body when it is +OK and one was asked for. */
class Pop3ReplyReader implements Reader<Pop3Reply> {
  readonly #status = new LineReader();
  #body: DotBodyReader | undefined;

  constructor(readonly multiline: boolean) {}

  get complete(): boolean {
    return this.#status.complete && (this.#body === undefined || this.#body.complete);
  }

  get value(): Pop3Reply {
    return { line: this.#status.value, bodyBytes: this.#body?.value };
  }

  take(chunk: Buffer, at: number): number {
    if (!this.#status.complete) {
      const end = this.#status.take(chunk, at);
      if (this.#status.complete && this.multiline && this.#status.value.startsWith('+OK')) {
        this.#body = new DotBodyReader();
      }
      return end;
    }
    return this.#body ? this.#body.take(chunk, at) : at;
  }
}

/** A bare POP3 client: one command at a time, `ok` or an error naming it. */
export class Pop3Client {
  readonly #client: LineClient;

  private constructor(endpoint: Endpoint) {
    this.#client = new LineClient(endpoint);
  }

  /** Connects and reads the greeting, which must be +OK. */
  static async open(endpoint: Endpoint): Promise<Pop3Client> {
    const pop3 = new Pop3Client(endpoint);
    try {
      const greeting = await pop3.#reply('the greeting', false, commandTimeoutMs);
      if (!greeting.line.startsWith('+OK'))
        throw new Error(`greeting on port ${endpoint.port}: ${greeting.line}`);
      return pop3;
    } catch (error) {
      pop3.destroy();
      throw error;
    }
  }

  get bytesReceived(): number {
    return this.#client.bytesReceived;
  }

  /** Sends a command that must be answered +OK; `multiline` when a body follows (RETR, LIST). */
  async ok(command: string, what: string, multiline = false): Promise<Pop3Reply> {
    this.#client.write(`${command}\r\n`);
    const timeout = multiline ? retrieveTimeoutMs : commandTimeoutMs;
    const reply = await this.#reply(what, multiline, timeout);
    if (!reply.line.startsWith('+OK')) throw new Error(`${what}: ${reply.line}`);
    return reply;
  }

  /** QUIT, then waits for the server to close the connection (RFC 1939 §6). */
  async quit(): Promise<void> {
    await this.ok('QUIT', 'QUIT');
    await this.#client.waitClosed(commandTimeoutMs);
  }

  destroy(): void {
    this.#client.destroy();
  }

  #reply(what: string, multiline: boolean, timeoutMs: number): Promise<Pop3Reply> {
    return this.#client.read(new Pop3ReplyReader(multiline), what, timeoutMs);
  }
}

/** Connects and logs in with USER and PASS; the caller owns the client. */
export async function pop3LogIn(endpoint: Endpoint, user: BenchUser): Promise<Pop3Client> {
  const client = await Pop3Client.open(endpoint);
  const port = endpoint.port;
  try {
    await client.ok(`USER ${user.address}`, `USER ${user.address} on port ${port}`);
    await client.ok(`PASS ${user.password}`, `PASS of ${user.address} on port ${port}`);
    return client;
  } catch (error) {
    client.destroy();
    throw error;
  }
}

/** One benchmark iteration: connect, greeting, USER, PASS, STAT, QUIT. */
export async function pop3LoginCycle(endpoint: Endpoint, user: BenchUser): Promise<void> {
  const client = await pop3LogIn(endpoint, user);
  try {
    await client.ok('STAT', `STAT of ${user.address}`);
    await client.quit();
  } finally {
    client.destroy();
  }
}
