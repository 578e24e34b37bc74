import type { ImapFlow } from 'imapflow';
import { identityOf, type MessageMeta, messageIdOf, normalFlags } from './identity.js';
import type { MailboxInfo } from './mailboxes.js';

/** RFC 6154 §2: the attributes a server may give a mailbox for its use. */
const specialUses = new Set([
  '\\all',
  '\\archive',
  '\\drafts',
  '\\flagged',
  '\\junk',
  '\\sent',
  '\\trash',
]);

/** Every mailbox of the user, with the attributes the server itself gave. */
export async function listMailboxes(client: ImapFlow): Promise<MailboxInfo[]> {
  const list = await client.list();
  return list.map((m) => {
    const flags = [...m.flags].map((f) => f.toLowerCase());
    const use = [...m.flags].find((f) => specialUses.has(f.toLowerCase()));
    return {
      path: m.path,
      delimiter: m.delimiter ?? '',
      selectable: !flags.includes('\\noselect') && !flags.includes('\\nonexistent'),
      ...(use ? { specialUse: use } : {}),
      subscribed: m.subscribed,
    };
  });
}

/** The hierarchy delimiter of the user's personal namespace. */
export async function delimiterOf(client: ImapFlow): Promise<string> {
  const [inbox] = await client
    .list({ listOnly: true })
    .then((l) => l.filter((m) => m.path === 'INBOX'));
  return inbox?.delimiter ?? '.';
}

/**
 * The messages of the mailbox the client has open: UID, flags, internal date, size and identity.
 * Only the Message-ID field is fetched for all; the whole header block only of those without
 * one. Nothing else is held, so a mailbox of any size costs a few hundred bytes per message.
 */
export async function scanMessages(client: ImapFlow): Promise<MessageMeta[]> {
  const open = client.mailbox;
  if (!open || open.exists === 0) return [];
  const rows: { uid: number; flags: string[]; date: Date; size: number; id?: string }[] = [];
  for await (const m of client.fetch(
    '1:*',
    { uid: true, flags: true, internalDate: true, size: true, headers: ['message-id'] },
    { uid: true },
  )) {
    const id = messageIdOf(m.headers);
    rows.push({
      uid: m.uid,
      flags: normalFlags(m.flags),
      date: new Date(m.internalDate ?? 0),
      size: m.size ?? 0,
      ...(id !== undefined ? { id } : {}),
    });
  }
  const headers = new Map<number, Buffer>();
  const bare = rows.filter((r) => r.id === undefined).map((r) => r.uid);
  if (bare.length > 0) {
    for await (const m of client.fetch(bare.join(','), { uid: true, headers: true }, { uid: true }))
      if (m.headers) headers.set(m.uid, m.headers);
  }
  return rows.map((r) => ({
    uid: r.uid,
    identity: identityOf(r.id, r.date, r.size, headers.get(r.uid)),
    flags: r.flags,
    internalDate: r.date,
    size: r.size,
  }));
}
