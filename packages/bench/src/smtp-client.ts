import { LineClient, LineReader, type Reader } from './line-client.js';
import { commandTimeoutMs } from './logins.js';

/** One SMTP or LMTP reply: its code and its lines (several for a multi-line reply). */
export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** Lines up to the last of one reply: `250-...` goes on, `250 ...` (or a bare `250`) ends it. */
class SmtpReplyReader implements Reader<SmtpReply> {
  complete = false;
  readonly #lines: string[] = [];
  #line = new LineReader();

  get value(): SmtpReply {
    const last = this.#lines.at(-1) ?? '';
    return { code: Number(last.slice(0, 3)), lines: this.#lines };
  }

  take(chunk: Buffer, at: number): number {
    let pos = at;
    while (pos < chunk.length && !this.complete) {
      pos = this.#line.take(chunk, pos);
      if (!this.#line.complete) break;
      const line = this.#line.value;
      this.#lines.push(line);
      this.#line = new LineReader();
      if (!/^\d{3}(?:-|$| )/.test(line))
        throw new Error(`not an SMTP reply: ${line.slice(0, 200)}`);
      if (line[3] !== '-') this.complete = true;
    }
    return pos;
  }
}

/**
 * A bare SMTP and LMTP client: one command at a time, replies as they come. LMTP answers the
 * end of DATA once per recipient; the bench sends one recipient per transaction, so both
 * protocols give one reply there.
 */
export class SmtpClient {
  readonly #client: LineClient;

  private constructor(port: number) {
    this.#client = new LineClient({ port });
  }

  /** Connects, reads the greeting (220) and says EHLO or LHLO (250). */
  static async open(port: number, hello: 'EHLO' | 'LHLO'): Promise<SmtpClient> {
    const smtp = new SmtpClient(port);
    try {
      const greeting = await smtp.#reply('the greeting');
      if (greeting.code !== 220) throw new Error(`greeting on port ${port}: ${greeting.lines[0]}`);
      const helo = await smtp.command(`${hello} bench.example.com`, hello);
      if (helo.code !== 250) throw new Error(`${hello} on port ${port}: ${helo.lines[0]}`);
      return smtp;
    } catch (error) {
      smtp.destroy();
      throw error;
    }
  }

  command(line: string, what: string): Promise<SmtpReply> {
    this.#client.write(`${line}\r\n`);
    return this.#reply(what);
  }

  /**
   * MAIL, RCPT, DATA and the message (`data`: dot-stuffed, ending in CRLF.CRLF), each waiting
   * for its reply. Returns the reply that ended the transaction: the one to the message, or
   * the refusal of MAIL, RCPT or DATA (after which the transaction is reset).
   */
  async transaction(from: string, to: string, data: Buffer): Promise<SmtpReply> {
    const mail = await this.command(`MAIL FROM:<${from}>`, 'MAIL');
    if (mail.code !== 250) return mail;
    for (const [command, what, wanted] of [
      [`RCPT TO:<${to}>`, 'RCPT', 250],
      ['DATA', 'DATA', 354],
    ] as const) {
      const reply = await this.command(command, what);
      if (reply.code !== wanted) {
        await this.command('RSET', 'RSET');
        return reply;
      }
    }
    this.#client.write(data);
    return this.#reply('the end of DATA');
  }

  /** QUIT (221), then waits for the server to close the connection (RFC 5321 §4.1.1.10). */
  async quit(): Promise<void> {
    const reply = await this.command('QUIT', 'QUIT');
    if (reply.code !== 221) throw new Error(`QUIT: ${reply.lines[0]}`);
    await this.#client.waitClosed(commandTimeoutMs);
  }

  destroy(): void {
    this.#client.destroy();
  }

  #reply(what: string): Promise<SmtpReply> {
    return this.#client.read(new SmtpReplyReader(), what, commandTimeoutMs);
  }
}
