import { createHash } from 'node:crypto';

/** One message as a move compares it: never its body, which stays on the servers. */
export interface MessageMeta {
  readonly uid: number;
  /** What tells the same message on both servers apart from others (see identityOf). */
  readonly identity: string;
  /** System flags and keywords, sorted, without \Recent (which no client can set). */
  readonly flags: readonly string[];
  readonly internalDate: Date;
  readonly size: number;
}

/**
 * A message's identity across servers: its Message-ID with its internal date and size, which
 * APPEND keeps; without a Message-ID a hash of its header block stands in. Both survive a copy
 * byte for byte, and two different messages agree on all three only by accident.
 */
export function identityOf(
  messageId: string | undefined,
  internalDate: Date,
  size: number,
  header?: Buffer,
): string {
  const id =
    messageId !== undefined && messageId !== ''
      ? `mid:${messageId}`
      : `hdr:${createHash('sha256')
          .update(header ?? Buffer.alloc(0))
          .digest('base64url')}`;
  return `${id} ${internalDate.getTime()} ${size}`;
}

/** The Message-ID of a `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` answer; undefined if none. */
export function messageIdOf(fields: Buffer | undefined): string | undefined {
  if (!fields) return undefined;
  // RFC 5322 §2.2.3: a field may be folded onto the lines after its first.
  const text = fields.toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const match = /^message-id:[ \t]*(.*?)[ \t]*$/im.exec(text);
  const value = match?.[1];
  return value === undefined || value === '' ? undefined : value;
}

/** Flags as a move compares and sets them. */
export function normalFlags(flags: Iterable<string> | undefined): string[] {
  return [...(flags ?? [])].filter((f) => f.toLowerCase() !== '\\recent').sort();
}
