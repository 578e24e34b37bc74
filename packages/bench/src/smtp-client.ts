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
 * end of DATA once per accepted recipient, SMTP once.
 */
export class SmtpClient {
  readonly #client: LineClient;
  #lmtp = false;

  private constructor(port: number) {
    this.#client = new LineClient({ port });
  }

  /** Connects, reads the greeting (220) and says EHLO or LHLO (250). */
  static async open(port: number, hello: 'EHLO' | 'LHLO'): Promise<SmtpClient> {
    const smtp = new SmtpClient(port);
    try {
      const greeting = await smtp.#reply('the greeting');
      if (greeting.code !== 220) throw new Error(`greeting on port ${port}: ${greeting.lines[0]}`);
      smtp.#lmtp = hello === 'LHLO';
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
   * MAIL, each RCPT, DATA and the message (`data`: dot-stuffed, ending in CRLF.CRLF), each
   * waiting for its reply. Returns, per recipient, the reply that ended its part: the one to
   * the message (LMTP: its own), or the refusal of MAIL, its RCPT or DATA (after which the
   * transaction is reset).
   */
  async transaction(from: string, to: readonly string[], data: Buffer): Promise<SmtpReply[]> {
    const mail = await this.command(`MAIL FROM:<${from}>`, 'MAIL');
    if (mail.code !== 250) return to.map(() => mail);
    const replies: (SmtpReply | undefined)[] = [];
    for (const rcpt of to) {
      const reply = await this.command(`RCPT TO:<${rcpt}>`, 'RCPT');
      replies.push(reply.code === 250 ? undefined : reply);
    }
    const data354 = replies.some((r) => r === undefined)
      ? await this.command('DATA', 'DATA')
      : undefined;
    if (data354?.code !== 354) {
      await this.command('RSET', 'RSET');
      return replies.map((r) => r ?? (data354 as SmtpReply));
    }
    this.#client.write(data);
    const one = this.#lmtp ? undefined : await this.#reply('the end of DATA');
    const done: SmtpReply[] = [];
    for (const r of replies) done.push(r ?? one ?? (await this.#reply('the end of DATA')));
    return done;
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
