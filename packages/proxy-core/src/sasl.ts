/**
 * The SASL a proxy reads itself, the same for every protocol: strict base64, PLAIN (RFC 4616),
 * and the user named in an XOAUTH2 or OAUTHBEARER (RFC 7628) message, whose token only the
 * backend checks. `answerSaslResponse` acts on a `SaslStep` with each protocol's own replies.
 */
import type { Credentials } from './credentials.js';

export type SaslMechanism = 'PLAIN' | 'XOAUTH2' | 'OAUTHBEARER';

export interface PlainCredentials {
  readonly authzid: string;
  readonly user: string;
  readonly password: string;
}

/** What a client's SASL response amounts to. */
export type SaslStep =
  | { readonly kind: 'credentials'; readonly credentials: Credentials }
  /** `*`: the client gave up (RFC 4422 §3.5). */
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'bad-base64' }
  /** Base64, but not `[authzid] NUL authcid NUL passwd` in UTF-8. */
  | { readonly kind: 'malformed' }
  /** An OAuth message that names no user: answered like a wrong token, after the same delay. */
  | { readonly kind: 'no-user' };

/** A response that is no answer: the client's syntax, not its credentials. */
export type SaslRefusal = Exclude<SaslStep['kind'], 'credentials' | 'no-user'>;

/** What a protocol's session does with each `SaslStep`, in its own replies. */
export interface SaslAnswers<Reply> {
  readonly refusals: Readonly<Record<SaslRefusal, Reply>>;
  refuse(reply: Reply): void;
  /** No user to look up: fail as a wrong token would, after the same delay. */
  failLogin(): Promise<void>;
  login(credentials: Credentials): Promise<void>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Base64 as RFC 4648 §4 writes it, padded, nothing else. Buffer.from(text, 'base64') skips
 * characters it does not know and accepts missing padding; re-encoding must give the input back
 * (which also refuses non-zero padding bits, RFC 4648 §3.5).
 */
export function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** `[authzid] NUL authcid NUL passwd`, all UTF-8; undefined when it is not that. */
export function decodePlain(message: Buffer): PlainCredentials | undefined {
  const first = message.indexOf(0);
  const second = first === -1 ? -1 : message.indexOf(0, first + 1);
  if (second === -1 || message.indexOf(0, second + 1) !== -1) return undefined;
  const authzid = text(message.subarray(0, first));
  const user = text(message.subarray(first + 1, second));
  const password = text(message.subarray(second + 1));
  if (authzid === undefined || !user || !password) return undefined;
  return { authzid, user, password };
}

export function encodePlain(authzid: string, user: string, password: string): Buffer {
  return Buffer.from(`${authzid}\u0000${user}\u0000${password}`, 'utf8');
}

/**
 * The user named in the client's first OAuth message:
 * XOAUTH2 `user=NAME ^A auth=Bearer TOKEN ^A ^A`, or OAUTHBEARER's GS2 header `n,a=NAME,`
 * (RFC 7628 §3.1) whose saslname writes "," as "=2C" and "=" as "=3D" (RFC 5801 §4).
 */
export function oauthUser(
  mechanism: 'XOAUTH2' | 'OAUTHBEARER',
  message: Buffer,
): string | undefined {
  const decoded = text(message);
  if (decoded === undefined) return undefined;
  const first = decoded.split('\u0001', 1)[0] ?? '';
  if (mechanism === 'XOAUTH2') {
    const user = first.startsWith('user=') ? first.slice(5) : '';
    return user !== '' ? user : undefined;
  }
  const header = /^(?:n|y|p=[A-Za-z0-9.-]+),a=([^,]+),/.exec(first);
  const saslname = header?.[1];
  if (saslname === undefined || /=(?!2C|3D)/.test(saslname)) return undefined;
  return saslname.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

/**
 * One SASL response as the client wrote it (an initial response, or the line after the
 * server's empty challenge): `*` cancels, `=` is an empty response (RFC 4959 §3, RFC 5034 §4).
 */
export function readSaslResponse(mechanism: SaslMechanism, response: string): SaslStep {
  if (response === '*') return { kind: 'cancelled' };
  const decoded = response === '=' ? Buffer.alloc(0) : decodeBase64(response);
  if (!decoded) return { kind: 'bad-base64' };
  if (mechanism === 'PLAIN') {
    const plain = decodePlain(decoded);
    if (!plain) return { kind: 'malformed' };
    return { kind: 'credentials', credentials: { mechanism, ...plain } };
  }
  const user = oauthUser(mechanism, decoded);
  if (user === undefined) return { kind: 'no-user' };
  return { kind: 'credentials', credentials: { mechanism, user, response: decoded } };
}

/** Reads one SASL response and answers it through the protocol's session. */
export async function answerSaslResponse<Reply>(
  mechanism: SaslMechanism,
  response: string,
  answers: SaslAnswers<Reply>,
): Promise<void> {
  const step = readSaslResponse(mechanism, response);
  switch (step.kind) {
    case 'cancelled':
    case 'bad-base64':
    case 'malformed':
      answers.refuse(answers.refusals[step.kind]);
      return;
    case 'no-user':
      return answers.failLogin();
    case 'credentials':
      return answers.login(step.credentials);
  }
}

function text(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
