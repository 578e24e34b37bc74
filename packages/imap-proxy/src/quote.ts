/** An IMAP string for the backend: quoted when it can be, else a literal (RFC 9051 §4.3). */
export type Astring = { readonly quoted: string } | { readonly literal: Buffer };

export function astringFor(value: string): Astring {
  const bytes = Buffer.from(value, 'utf8');
  const quotable = bytes.every((b) => b >= 0x20 && b < 0x7f);
  if (quotable) return { quoted: `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"` };
  return { literal: bytes };
}
