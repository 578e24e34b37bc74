/** SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, base64 on the wire. */
export interface PlainCredentials {
  readonly authzid: string;
  readonly user: string;
  readonly password: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64: Buffer.from('…', 'base64') silently skips garbage, which we must not. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

export function decodePlain(response: Buffer): PlainCredentials | undefined {
  const first = response.indexOf(0);
  const second = first === -1 ? -1 : response.indexOf(0, first + 1);
  if (second === -1 || response.indexOf(0, second + 1) !== -1) return undefined;
  const user = response.subarray(first + 1, second).toString('utf8');
  const password = response.subarray(second + 1).toString('utf8');
  if (user === '' || password === '') return undefined;
  return { authzid: response.subarray(0, first).toString('utf8'), user, password };
}

export function encodePlain(authzid: string, user: string, password: string): string {
  return Buffer.from(`${authzid}\u0000${user}\u0000${password}`, 'utf8').toString('base64');
}

/**
 * The user named in an XOAUTH2 (`user=…^Aauth=Bearer …^A^A`) or OAUTHBEARER (RFC 7628 GS2
 * header `n,a=user,`) initial response; the token itself is for the backend to check.
 */
export function oauthUser(
  mechanism: 'XOAUTH2' | 'OAUTHBEARER',
  response: Buffer,
): string | undefined {
  const text = response.toString('utf8');
  if (mechanism === 'XOAUTH2') {
    const [first = ''] = text.split('\u0001');
    return first.startsWith('user=') && first.length > 5 ? first.slice(5) : undefined;
  }
  const header = text.split('\u0001')[0] ?? '';
  const match = /^[nyp][^,]*,a=([^,]+),/.exec(header);
  // RFC 5801 §4: in a saslname "=2C" is "," and "=3D" is "=".
  return match?.[1]?.replaceAll('=2C', ',').replaceAll('=3D', '=');
}
