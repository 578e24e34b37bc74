/**
 * One POP3 command line, parsed (RFC 1939 §3, RFC 2449 §3): a case-insensitive keyword, then
 * its argument text. How the argument splits is the command's business: PASS takes the rest of
 * the line as the password, spaces included (RFC 1939 §7); AUTH takes two words (RFC 5034 §4).
 */
export type ParsedCommand =
  | {
      readonly kind: 'command';
      /** Upper-cased keyword. */
      readonly verb: string;
      /** Everything after the first space; undefined when there is no space. */
      readonly argument: string | undefined;
    }
  | { readonly kind: 'invalid'; readonly reason: string };

const KEYWORD = /^[A-Za-z]{1,16}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseCommand(line: Buffer): ParsedCommand {
  if (line.length === 0) return { kind: 'invalid', reason: 'empty command' };
  // NUL, CR, ESC and friends have no place in a command, and must not reach a backend's line.
  if (hasControlCharacters(line)) {
    return { kind: 'invalid', reason: 'control characters in command' };
  }
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return { kind: 'invalid', reason: 'command is not valid UTF-8' };
  }
  const space = text.indexOf(' ');
  const keyword = space === -1 ? text : text.slice(0, space);
  if (!KEYWORD.test(keyword)) return { kind: 'invalid', reason: 'malformed command keyword' };
  return {
    kind: 'command',
    verb: keyword.toUpperCase(),
    argument: space === -1 ? undefined : text.slice(space + 1),
  };
}

/** `AUTH mechanism [initial-response]` (RFC 5034 §4); undefined when malformed. */
export function parseAuthArgument(
  argument: string | undefined,
): { readonly mechanism: string; readonly initial: string | undefined } | undefined {
  if (argument === undefined) return undefined;
  const words = argument.split(' ');
  const [mechanism, initial] = words;
  if (words.length > 2 || !mechanism || initial === '') return undefined;
  // RFC 4422 §3.1: mechanism names are 1-20 of A-Z, 0-9, "-" and "_".
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(mechanism)) return undefined;
  return { mechanism: mechanism.toUpperCase(), initial };
}

/** True when any byte or character is below 0x20 or is DEL: nothing a command line may carry. */
export function hasControlCharacters(value: Buffer | string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = typeof value === 'string' ? value.charCodeAt(i) : (value[i] as number);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
