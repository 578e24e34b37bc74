/** One SMTP/LMTP reply (RFC 5321 §4.2): code, enhanced status (RFC 3463) when given, text lines. */
export interface SmtpReply {
  readonly code: number;
  /** e.g. `5.1.1`; undefined when the server sent none. */
  readonly enhanced: string | undefined;
  /** Text lines without code and enhanced status. */
  readonly lines: readonly string[];
}

const LINE = /^(\d{3})([ -])(.*)$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;

/**
 * Collects reply lines: `250-…` continues, `250 …` ends. Returns undefined until the last
 * line; throws on a line that is not a reply line or changes code midway.
 */
export class ReplyCollector {
  #code: number | undefined;
  #lines: string[] = [];

  push(line: string): SmtpReply | undefined {
    const match = LINE.exec(line);
    if (!match) throw new Error(`not an SMTP reply: ${line.slice(0, 100)}`);
    const code = Number(match[1]);
    if (this.#code !== undefined && code !== this.#code)
      throw new Error('reply code changed midway');
    this.#code = code;
    this.#lines.push(match[3] ?? '');
    if (match[2] === '-') return undefined;
    const reply = build(code, this.#lines);
    this.#code = undefined;
    this.#lines = [];
    return reply;
  }
}

function build(code: number, raw: string[]): SmtpReply {
  const first = raw[0] ?? '';
  const found = ENHANCED.exec(first);
  if (!found) return { code, enhanced: undefined, lines: raw };
  // Most replies are one line: its status is the one just found.
  const lines =
    raw.length === 1 ? [first.slice(found[0].length)] : raw.map((l) => l.replace(ENHANCED, ''));
  return { code, enhanced: found[1], lines };
}

export function isPositive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 400;
}

/** The EHLO keywords and their parameters, upper-cased keys (RFC 5321 §4.1.1.1). */
export function extensions(reply: SmtpReply): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of reply.lines.slice(1)) {
    const [keyword = '', ...rest] = line.trim().split(/\s+/);
    if (keyword) map.set(keyword.toUpperCase(), rest.join(' '));
  }
  return map;
}

/** The reply's text as the client gets it: enhanced status first; `fallback` for no text. */
export function replyText(reply: SmtpReply, fallback = ''): string {
  const text = reply.lines.join(' ').trim() || fallback;
  return reply.enhanced ? `${reply.enhanced} ${text}` : text;
}
