import type { Token } from './scan.js';

/** A command before login: its name, and its arguments, which are all strings (RFC 5804 §2). */
export type ParsedCommand =
  | { readonly kind: 'command'; readonly verb: string; readonly args: readonly string[] }
  | { readonly kind: 'invalid'; readonly reason: string };

const VERB = /^[A-Za-z]{1,32}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseCommand(tokens: readonly Token[]): ParsedCommand {
  const [first, ...rest] = tokens;
  if (first?.kind !== 'atom' || !VERB.test(first.text)) {
    return { kind: 'invalid', reason: 'a command starts with its name' };
  }
  const args: string[] = [];
  for (const token of rest) {
    // No pre-login command takes an atom or a number argument.
    if (token.kind !== 'string') return { kind: 'invalid', reason: 'arguments must be strings' };
    const text = stringText(token.bytes);
    if (text === undefined) return { kind: 'invalid', reason: 'arguments must be UTF-8' };
    args.push(text);
  }
  return { kind: 'command', verb: first.text.toUpperCase(), args };
}

/**
 * The client's answer to a SASL challenge (RFC 5804 §2.1): one string, base64 or `"*"`.
 * Undefined when the line is anything else.
 */
export function parseSaslAnswer(tokens: readonly Token[]): string | undefined {
  const [only] = tokens;
  if (tokens.length !== 1 || only?.kind !== 'string') return undefined;
  return stringText(only.bytes);
}

/** String contents (RFC 5804 §4): UTF-8 without NUL, which no pre-login argument needs. */
function stringText(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A quoted string for our replies (RFC 5804 §4): `"` and `\` escaped, CR and LF dropped. */
export function quoted(text: string): string {
  return `"${text.replace(/[\r\n\0]/g, '').replace(/[\\"]/g, '\\$&')}"`;
}
