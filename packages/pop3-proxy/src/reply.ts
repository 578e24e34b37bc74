/** A backend's status line (RFC 1939 §3), with its response code (RFC 2449 §8). */
export interface Pop3Reply {
  /** `+OK`, `-ERR`, or `+` (a SASL challenge, RFC 5034 §4). */
  readonly status: 'ok' | 'err' | 'challenge';
  /** The response code without brackets, e.g. `IN-USE` or `SYS/TEMP`. */
  readonly code: string | undefined;
  /** The text after status and code; for a challenge, its base64 data. */
  readonly text: string;
  /** The line as it came, without CRLF, to relay unchanged. */
  readonly raw: Buffer;
}

const STATUS = /^(\+OK|-ERR)(?: (?:\[([^\]]*)\] ?)?(.*))?$/i;
const CHALLENGE = /^\+(?: (.*))?$/;

/** Parses one status line; undefined when it is none (garbage, or a multi-line body). */
export function parseReply(raw: Buffer): Pop3Reply | undefined {
  const line = raw.toString('utf8');
  const status = STATUS.exec(line);
  if (status) {
    return {
      status: (status[1] as string).toUpperCase() === '+OK' ? 'ok' : 'err',
      code: status[2],
      text: status[3] ?? '',
      raw,
    };
  }
  const challenge = CHALLENGE.exec(line);
  if (challenge) return { status: 'challenge', code: undefined, text: challenge[1] ?? '', raw };
  return undefined;
}
