import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * What a client address is counted under: IPv4 as it is (also when written IPv4-mapped,
 * `::ffff:192.0.2.1`), IPv6 by its first `prefixLength` bits (`2001:db8:1:2::/64`), since one
 * host usually holds a whole /64 and could otherwise step to a fresh address per attempt.
 */
export function addressKey(address: string, prefixLength: number): string {
  // The usual client, asked about several times per login: no rewriting to do.
  if (isIPv4(address)) return address;
  const plain = address.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) names no other host
  const lower = plain.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  if (!isIPv6(lower)) return lower;
  const bits = Math.max(0, Math.min(128, Math.trunc(prefixLength)));
  const groups = ipv6Groups(lower).map((group, i) => {
    const kept = Math.max(0, Math.min(16, bits - i * 16));
    return kept === 0 ? 0 : group & (0xffff << (16 - kept)) & 0xffff;
  });
  // The URL parser writes the canonical, compressed form (RFC 5952).
  const text = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname;
  return bits === 128 ? text.slice(1, -1) : `${text.slice(1, -1)}/${bits}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) =>
    Number.parseInt(g, 16),
  );
}

/** Longer user names are counted under a digest, so a client cannot make keys of any size. */
const userKeyMaxLength = 128;

/**
 * What a login name is counted under: lowercased, as most directories match names without case
 * (counting `Alice` and `alice` together only ever protects more).
 */
export function userKey(user: string): string {
  const lower = user.toLowerCase();
  if (lower.length <= userKeyMaxLength) return lower;
  return `sha256:${createHash('sha256').update(lower).digest('hex')}`;
}

/** One address trying one user name: the key that tells a user's own typos from an attack. */
export function pairKey(address: string, user: string): string {
  return `${address} ${user}`;
}
