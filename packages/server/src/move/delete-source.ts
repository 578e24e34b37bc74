import type { ImapFlow } from 'imapflow';
import { listMailboxes } from './scan.js';

/**
 * Empties the user's old home once the move is verified and flipped: every mailbox but INBOX
 * deleted, deepest first, and INBOX emptied (a server keeps INBOX). Returns the mailboxes gone.
 */
export async function deleteSourceCopy(source: ImapFlow): Promise<number> {
  const boxes = await listMailboxes(source);
  const depth = (path: string, delimiter: string) =>
    delimiter === '' ? 1 : path.split(delimiter).length;
  const others = boxes
    .filter((m) => m.path.toUpperCase() !== 'INBOX')
    .sort((a, b) => depth(b.path, b.delimiter) - depth(a.path, a.delimiter));
  for (const m of others) await source.mailboxDelete(m.path);
  const inbox = await source.mailboxOpen('INBOX');
  if (inbox.exists > 0) await source.messageDelete('1:*');
  return others.length;
}
