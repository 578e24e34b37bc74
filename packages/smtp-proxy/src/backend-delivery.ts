import type { SmtpBackend } from './backend.js';
import type { Outlet } from './message-relay.js';
import type { BackendAnswer } from './outcome.js';
import { isPositive, replyText, type SmtpReply } from './reply.js';

/** One backend's part of a transaction, as its recipients were accepted by RCPT. */
export interface BackendShare {
  readonly client: SmtpBackend;
  /** The MAIL command this backend got, for a transaction begun again. */
  readonly mail: string;
  /** Per recipient: the client's address (what the journal knows it by) and our RCPT command. */
  readonly recipients: readonly { readonly address: string; readonly rcpt: string }[];
}

/** The reply a recipient gets that was delivered by an earlier attempt of the same message. */
export function deliveredEarlier(reply: string): SmtpReply {
  return { code: 250, enhanced: '2.0.0', lines: [`delivered earlier: ${reply}`] };
}

/**
 * Sends the message through `outlet` to one backend and returns one outcome per recipient of
 * the share, in its order. Recipients that `earlier` lists (delivered by a previous attempt)
 * are not given it again: when all of them are, the backend's transaction is reset before the
 * message ever reaches it; when only some are, the transaction is begun again for the others.
 * Throws when the connection fails: the caller counts the share as lost.
 */
export async function deliverShare(
  share: BackendShare,
  outlet: Outlet,
  earlier: ReadonlyMap<string, string> | undefined,
  timeoutMs: number,
): Promise<BackendAnswer[]> {
  const { client, recipients } = share;
  const before = recipients.map((r) => earlier?.get(r.address));
  const fresh = recipients.flatMap((_, i) => (before[i] === undefined ? [i] : []));
  const outcomes: BackendAnswer[] = before.map((b) =>
    b === undefined ? undefined : deliveredEarlier(b),
  );
  if (fresh.length === recipients.length) {
    const replies = await client.data(outlet, recipients.length, timeoutMs);
    return recipients.map((_, i) => (client.options.lmtp ? replies[i] : replies[0]));
  }
  // The outlet keeps holding the message meanwhile (the client pauses past its limit).
  await expect(client, 'RSET', timeoutMs);
  if (fresh.length === 0) {
    outlet.drop();
    return outcomes;
  }

  // Again, with only the recipients still waiting for the message: a new transaction.
  const replies = await client.pipeline(
    [share.mail, ...fresh.map((i) => (recipients[i] as { rcpt: string }).rcpt)],
    timeoutMs,
  );
  const [mail, ...rcpts] = replies;
  if (!mail || !isPositive(mail)) {
    outlet.drop();
    for (const i of fresh) outcomes[i] = mail;
    return outcomes;
  }
  const sending = fresh.filter((i, k) => {
    const reply = rcpts[k];
    if (reply && isPositive(reply)) return true;
    outcomes[i] = reply;
    return false;
  });
  if (sending.length === 0) {
    outlet.drop();
    await expect(client, 'RSET', timeoutMs);
    return outcomes;
  }
  const results = await client.data(outlet, sending.length, timeoutMs);
  sending.forEach((i, k) => {
    outcomes[i] = client.options.lmtp ? results[k] : results[0];
  });
  return outcomes;
}

async function expect(client: SmtpBackend, line: string, timeoutMs: number): Promise<void> {
  const reply = await client.command(line, timeoutMs);
  if (!isPositive(reply)) throw new Error(`${line} refused: ${reply.code} ${replyText(reply)}`);
}
