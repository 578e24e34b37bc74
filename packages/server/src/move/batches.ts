import type { ImapFlow } from 'imapflow';
import type { MessageMeta } from './identity.js';

/** One FETCH of message bodies: this many bytes (by RFC822.SIZE) or messages at most. */
export const batchLimits = { bytes: 8 * 1024 * 1024, messages: 100 } as const;

/**
 * Cuts the messages to copy into batches of at most `limits` (a message larger than the byte
 * limit goes alone), so that one FETCH brings many bodies and memory holds few of them.
 */
export function batchesOf(
  messages: readonly MessageMeta[],
  limits: { bytes: number; messages: number } = batchLimits,
): MessageMeta[][] {
  const batches: MessageMeta[][] = [];
  let current: MessageMeta[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (
      current.length > 0 &&
      (bytes + m.size > limits.bytes || current.length >= limits.messages)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += m.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The bodies of one batch by UID; a message expunged since the scan is simply absent. */
export async function fetchBodies(
  client: ImapFlow,
  batch: readonly MessageMeta[],
): Promise<Map<number, Buffer>> {
  const bodies = new Map<number, Buffer>();
  const uids = batch.map((m) => m.uid).join(',');
  for await (const m of client.fetch(uids, { uid: true, source: true }, { uid: true }))
    if (m.source) bodies.set(m.uid, m.source);
  return bodies;
}
