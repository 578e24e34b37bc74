import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface RawClientOptions {
  readonly port: number;
  readonly host?: string;
  /** Implicit TLS: the CA to verify the server with. */
  readonly tls?: { readonly ca: string; readonly servername?: string };
  /** Bytes to send before anything else (a PROXY header). */
  readonly preamble?: Buffer;
  /** The client's own port, e.g. one outside net.ipv4.ip_local_port_range. */
  readonly localPort?: number;
}

/**
 * A line-oriented test client for IMAP, POP3 and SMTP: what a person types at a terminal, with
 * the lines that came back. Every wait has a deadline so a hung server fails the test.
 */
export class RawClient {
  #socket: Socket | TLSSocket;
  #buffer = '';
  #closed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async connect(options: RawClientOptions): Promise<RawClient> {
    const host = options.host ?? '127.0.0.1';
    const plain = netConnect({ host, port: options.port, localPort: options.localPort });
    await new Promise<void>((resolve, reject) => {
      plain.once('connect', resolve);
      plain.once('error', reject);
    });
    if (options.preamble) plain.write(options.preamble);
    if (!options.tls) return new RawClient(plain);
    const secure = tlsConnect({
      socket: plain,
      ca: options.tls.ca,
      servername: options.tls.servername ?? 'localhost',
    });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    return new RawClient(secure);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Writes a line with CRLF. */
  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  /** Waits for a line matching `pattern`; returns every line up to and including it. */
  async until(pattern: RegExp, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const seen: string[] = [];
    for (;;) {
      let end = this.#buffer.indexOf('\r\n');
      while (end !== -1) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        seen.push(line);
        if (pattern.test(line)) return seen;
        end = this.#buffer.indexOf('\r\n');
      }
      if (this.#closed)
        throw new Error(`closed before ${pattern}; got:\n${seen.join('\n')}${this.#buffer}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${pattern} within ${timeoutMs} ms; got:\n${seen.join('\n')}${this.#buffer}`,
        );
      await this.#wait(left);
    }
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`still open after ${timeoutMs} ms`);
      await this.#wait(left);
    }
  }

  /** Everything received and not yet read by `until`. */
  rest(): string {
    return this.#buffer;
  }

  /** Upgrades after the server said yes to STARTTLS/STLS. */
  async startTls(ca: string, servername = 'localhost'): Promise<void> {
    const plain = this.#socket as Socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({ socket: plain, ca, servername });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
  }

  close(): void {
    this.#socket.destroy();
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
