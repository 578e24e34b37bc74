/** An IMAP string for the backend: quoted when it can be, else a literal (RFC 9051 §4.3). */
export type Astring = { readonly quoted: string } | { readonly literal: Buffer };

/** Printable ASCII only: any other character (control, or past ASCII in UTF-8) needs a literal. */
const quotable = /^[\x20-\x7e]*$/;
const needsEscape = /["\\]/;

export function astringFor(value: string): Astring {
  if (!quotable.test(value)) return { literal: Buffer.from(value, 'utf8') };
  return { quoted: quoted(value) };
}

/** An IMAP quoted string: `\` and `"` escaped. */
export function quoted(value: string): string {
  if (!needsEscape.test(value)) return `"${value}"`;
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
