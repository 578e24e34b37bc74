import type { ProxyMetrics } from '@homing/proxy-core';
import type { Logger } from 'pino';
import type { BackendAnswer } from '../outcome.js';
import { isPositive, replyText, type SmtpReply } from '../reply.js';
import type { DeliveryJournal } from './journal.js';

/** Where lines go: the session's logger, read only when one is written (it is made on demand). */
export interface LogsTo {
  readonly log: Logger;
}

/** What the journal knew of a message when its header block had arrived. */
export type Known =
  | { readonly fingerprint: string; readonly delivered: ReadonlyMap<string, string> }
  /** It could not be asked: whether an earlier attempt reached anyone is unknown. */
  | 'failed'
  /** No fingerprint: the message was given up before its header block ended. */
  | undefined;

/** A backend's share left undelivered because the journal could not be asked. */
export const journalDown: SmtpReply = {
  code: 451,
  enhanced: '4.3.0',
  lines: ['Delivery journal unavailable, try again later'],
};

/** The journal's entry for the message, once its fingerprint is known. */
export async function lookUp(
  journal: DeliveryJournal,
  fingerprint: Promise<string | undefined>,
  metrics: ProxyMetrics,
  session: LogsTo,
): Promise<Known> {
  const value = await fingerprint;
  if (value === undefined) return undefined;
  try {
    return { fingerprint: value, delivered: await journal.delivered(value) };
  } catch (error) {
    metrics.smtpJournal('error', 1);
    session.log.warn({ err: String(error) }, 'delivery journal unavailable');
    return 'failed';
  }
}

/**
 * After the backends answered: counts the recipients left out as delivered before, and when
 * the sender is to try again (`retry`), writes down who has the message now, so that they do
 * not get it twice. `addresses` and `outcomes` go together, in the client's order.
 */
export async function settle(
  journal: DeliveryJournal,
  found: Known,
  retry: boolean,
  addresses: readonly string[],
  outcomes: readonly BackendAnswer[],
  metrics: ProxyMetrics,
  session: LogsTo,
): Promise<void> {
  if (typeof found !== 'object') return;
  const skipped = addresses.filter((a) => found.delivered.has(a)).length;
  if (skipped > 0) metrics.smtpJournal('skipped', skipped);
  if (!retry) return;
  const now = new Map<string, string>();
  addresses.forEach((address, i) => {
    const reply = outcomes[i];
    if (reply && isPositive(reply) && !found.delivered.has(address))
      now.set(address, replyText(reply).slice(0, 300));
  });
  if (now.size === 0) return;
  try {
    await journal.record(found.fingerprint, now);
    metrics.smtpJournal('recorded', now.size);
  } catch (error) {
    // A retry may now give these recipients a second copy; nothing else can be done here.
    metrics.smtpJournal('error', 1);
    session.log.error(
      { err: String(error), rcpts: [...now.keys()] },
      'delivery journal write failed: a retry may deliver these recipients twice',
    );
  }
}
