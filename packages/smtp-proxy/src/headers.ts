/**
 * Counts `Received:` headers as the message streams past (loop detection, RFC 5321 §6.3),
 * looking only at the header section.
 */
export class ReceivedCounter {
  count = 0;
  #inHeaders = true;
  /** The first bytes of the line under way (enough to tell `Received:`), as latin1. */
  #line = '';

  /** Feeds bytes; returns false once the header section is over. */
  push(chunk: Buffer): boolean {
    if (!this.#inHeaders) return false;
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      const end = lf < 0 ? chunk.length : lf;
      const room = lineHead - this.#line.length;
      if (room > 0 && end > start)
        this.#line += chunk.toString('latin1', start, Math.min(end, start + room));
      if (lf < 0) return true;
      const line = this.#line;
      if (line === '' || line === '\r') {
        this.#inHeaders = false;
        return false;
      }
      if (receivedName.test(line)) this.count += 1;
      this.#line = '';
      start = lf + 1;
    }
  }
}

/** Bytes of a line kept to tell a `Received:` header, and the test. */
const lineHead = 16;
const receivedName = /^received:/i;

export interface TraceInfo {
  /** The name the client gave in HELO/EHLO. */
  readonly helo: string;
  readonly clientAddress: string;
  /** Reverse DNS name, when known. */
  readonly clientName?: string | undefined;
  readonly by: string;
  readonly protocol: 'SMTP' | 'ESMTP' | 'ESMTPS' | 'ESMTPA' | 'ESMTPSA' | 'LMTP';
  readonly id: string;
  readonly recipient?: string | undefined;
  readonly date: Date;
}

/** A `Received:` trace header (RFC 5321 §4.4) for backends that were not told the client by XCLIENT. */
export function receivedHeader(t: TraceInfo): string {
  const from = `${t.helo || 'unknown'} (${t.clientName ?? ''}[${t.clientAddress}])`.replace(
    '( [',
    '([',
  );
  const recipient = t.recipient ? `\r\n\tfor <${t.recipient}>` : '';
  return `Received: from ${from}\r\n\tby ${t.by} (homing) with ${t.protocol} id ${t.id}${recipient};\r\n\t${traceDate(t.date)}\r\n`;
}

/** The last second's date in RFC 5322 form: messages of the same second share it. */
let dateSecond = Number.NaN;
let dateText = '';

function traceDate(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = date.toUTCString().replace('GMT', '+0000');
  }
  return dateText;
}
