/**
 * Counts `Received:` headers as the message streams past (loop detection, RFC 5321 §6.3),
 * looking only at the header section.
 */
export class ReceivedCounter {
  count = 0;
  #inHeaders = true;
  #line = '';

  /** Feeds bytes; returns false once the header section is over. */
  push(chunk: Buffer): boolean {
    if (!this.#inHeaders) return false;
    for (let i = 0; i < chunk.length; i += 1) {
      const byte = chunk[i] as number;
      if (byte === 0x0a) {
        const line = this.#line.replace(/\r$/, '');
        if (line === '') {
          this.#inHeaders = false;
          return false;
        }
        if (/^received:/i.test(line)) this.count += 1;
        this.#line = '';
      } else if (this.#line.length < 16) {
        this.#line += String.fromCharCode(byte);
      }
    }
    return true;
  }
}

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
  return `Received: from ${from}\r\n\tby ${t.by} (homing) with ${t.protocol} id ${t.id}${recipient};\r\n\t${t.date.toUTCString().replace('GMT', '+0000')}\r\n`;
}
