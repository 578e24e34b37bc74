/**
 * SASL pieces the proxy reads itself: strict base64, PLAIN (RFC 4616), and the user named in
 * an XOAUTH2 or OAUTHBEARER (RFC 7628) response, whose token only the backend checks.
 */
export interface PlainCredentials {
  readonly authzid: string;
  readonly user: string;
  readonly password: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Base64 as RFC 4648 §4 writes it, padded, nothing else. Buffer.from(text, 'base64') skips
 * characters it does not know and accepts missing padding; re-encoding must give the input back.
 */
export function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** `[authzid] NUL authcid NUL passwd`, all UTF-8; undefined when it is not that. */
export function decodePlain(message: Buffer): PlainCredentials | undefined {
  const parts: Buffer[] = [];
  let start = 0;
  for (let nul = message.indexOf(0); nul !== -1; nul = message.indexOf(0, start)) {
    parts.push(message.subarray(start, nul));
    start = nul + 1;
  }
  parts.push(message.subarray(start));
  if (parts.length !== 3) return undefined;
  const [authzid, user, password] = parts.map(text) as [string?, string?, string?];
  if (authzid === undefined || !user || !password) return undefined;
  return { authzid, user, password };
}

export function encodePlain(authzid: string, user: string, password: string): Buffer {
  return Buffer.from([authzid, user, password].join('\u0000'), 'utf8');
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

function text(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
