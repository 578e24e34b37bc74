/** Which MAIL/RCPT parameters need which backend extension (RFC 1870, 6152, 6531, 3461). */
const MAIL_PARAMS: Record<string, string> = {
  SIZE: 'SIZE',
  BODY: '8BITMIME',
  SMTPUTF8: 'SMTPUTF8',
  RET: 'DSN',
  ENVID: 'DSN',
};
const RCPT_PARAMS: Record<string, string> = { NOTIFY: 'DSN', ORCPT: 'DSN' };

/**
 * The client's parameters the backend understands, as they were written. A parameter the
 * backend lacks the extension for is left out: the listener only offers extensions that its
 * backends support end to end, so this drops nothing a client was promised.
 */
export function forwardParams(
  address: { readonly args: object | false },
  backendExtensions: ReadonlyMap<string, string>,
  kind: 'mail' | 'rcpt',
): string {
  const table = kind === 'mail' ? MAIL_PARAMS : RCPT_PARAMS;
  const out: string[] = [];
  for (const [key, value] of Object.entries(address.args || {})) {
    const needs = table[key.toUpperCase()];
    if (!needs || !backendExtensions.has(needs)) continue;
    if (/[\s\r\n]/.test(String(value))) continue;
    out.push(value === true ? key.toUpperCase() : `${key.toUpperCase()}=${value}`);
  }
  return out.length > 0 ? ` ${out.join(' ')}` : '';
}
