/**
 * A backend's lines before the splice (RFC 5804 §1.3, §1.7): capability lines
 * (`"NAME" ["value"]`), and responses `OK` / `NO` / `BYE` with an optional response code in
 * parentheses and an optional quoted string. A literal in a response is not read: before
 * login, the only responses a proxy reads are short, and Dovecot quotes them.
 */
export type SieveLine =
  /** After AUTHENTICATE, a lone string is a SASL challenge instead (RFC 5804 §2.1). */
  | { readonly kind: 'capability'; readonly name: string; readonly value: string | undefined }
  | {
      readonly kind: 'response';
      readonly status: 'OK' | 'NO' | 'BYE';
      /** The code's first word, upper-cased: `TRYLATER`, `SASL`, `AUTH-TOO-WEAK`… */
      readonly code: string | undefined;
      /** The text, unquoted; for a SASL `OK (SASL "…")` the code's string. */
      readonly text: string;
      /** The line as it came, without CRLF, to relay unchanged. */
      readonly raw: Buffer;
    };

const QUOTED = '"((?:[^"\\\\]|\\\\["\\\\])*)"';
const CAPABILITY = new RegExp(`^${QUOTED}(?: ${QUOTED})?$`);
const RESPONSE = new RegExp(`^(OK|NO|BYE)(?: \\(([^)]*)\\))?(?: ${QUOTED})?$`, 'i');

function unquote(text: string): string {
  return text.replace(/\\(["\\])/g, '$1');
}

/** Undefined when the line is none of these (or carries a literal). */
export function parseSieveLine(raw: Buffer): SieveLine | undefined {
  const line = raw.toString('utf8');
  const response = RESPONSE.exec(line);
  if (response) {
    const status = (response[1] as string).toUpperCase() as 'OK' | 'NO' | 'BYE';
    const code = response[2];
    return {
      kind: 'response',
      status,
      code: code?.split(' ', 1)[0]?.toUpperCase(),
      text: unquote(response[3] ?? ''),
      raw,
    };
  }
  const capability = CAPABILITY.exec(line);
  if (capability) {
    const value = capability[2];
    return {
      kind: 'capability',
      name: unquote(capability[1] as string).toUpperCase(),
      value: value === undefined ? undefined : unquote(value),
    };
  }
  return undefined;
}
