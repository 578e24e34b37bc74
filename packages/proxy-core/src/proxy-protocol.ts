import { isIPv4, isIPv6 } from 'node:net';

// PROXY protocol, versions 1 and 2 (haproxy.org/download/2.9/doc/proxy-protocol.txt).
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V1_MAX = 107; // §2.1: the longest v1 line, CRLF included
/** Addresses plus a generous allowance for TLVs; a longer header is refused. */
export const PROXY_V2_MAX = 16 + 1024;

export interface Peer {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | {
      readonly kind: 'ok';
      readonly version: 1 | 2;
      /** Bytes of the header; what follows belongs to the proxied protocol. */
      readonly consumed: number;
      /** Absent for v1 UNKNOWN and v2 LOCAL (health checks): use the socket's own addresses. */
      readonly source?: Peer;
      readonly destination?: Peer;
    };

/** Parses a PROXY header at the start of `buf`. Pure: no socket, so it is tested with tables. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  const sigLen = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  if (buf.subarray(0, sigLen).equals(PROXY_V2_SIGNATURE.subarray(0, sigLen))) {
    return sigLen < PROXY_V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(buf);
  }
  const prefix = Buffer.from('PROXY ');
  const n = Math.min(buf.length, prefix.length);
  if (!buf.subarray(0, n).equals(prefix.subarray(0, n))) {
    return { kind: 'invalid', reason: 'no PROXY protocol header' };
  }
  return parseV1(buf);
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n');
  if (end === -1) {
    return buf.length >= V1_MAX
      ? { kind: 'invalid', reason: 'v1 header too long' }
      : { kind: 'incomplete' };
  }
  if (end + 2 > V1_MAX) return { kind: 'invalid', reason: 'v1 header too long' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const consumed = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', version: 1, consumed };
  if (parts.length !== 6) return { kind: 'invalid', reason: 'v1 header malformed' };
  const [, family, src, dst, sport, dport] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (!valid) return { kind: 'invalid', reason: `v1 family ${family} unknown` };
  const sourcePort = port(sport);
  const destinationPort = port(dport);
  if (!valid(src) || !valid(dst) || sourcePort === undefined || destinationPort === undefined) {
    return { kind: 'invalid', reason: 'v1 address or port malformed' };
  }
  return {
    kind: 'ok',
    version: 1,
    consumed,
    source: { address: src, port: sourcePort },
    destination: { address: dst, port: destinationPort },
  };
}

function port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { kind: 'incomplete' };
  const versionCommand = buf[12] as number;
  const family = buf[13] as number;
  const length = buf.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'v2 version is not 2' };
  if (16 + length > PROXY_V2_MAX) return { kind: 'invalid', reason: 'v2 header too long' };
  if (buf.length < 16 + length) return { kind: 'incomplete' };
  const consumed = 16 + length;
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { kind: 'ok', version: 2, consumed }; // LOCAL
  if (command !== 0x1) return { kind: 'invalid', reason: 'v2 command unknown' };
  const body = buf.subarray(16, consumed);
  if (family === 0x11 && length >= 12) {
    return {
      kind: 'ok',
      version: 2,
      consumed,
      source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) },
      destination: { address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10) },
    };
  }
  if (family === 0x21 && length >= 36) {
    return {
      kind: 'ok',
      version: 2,
      consumed,
      source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
    };
  }
  if ((family & 0xf0) === 0x00) return { kind: 'ok', version: 2, consumed }; // UNSPEC
  return { kind: 'invalid', reason: 'v2 address family not supported or too short' };
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Let the URL parser compress it to the canonical form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A v2 PROXY header for a connection to a backend that asked for one. */
export function encodeProxyV2(source: Peer, destination: Peer): Buffer {
  const v4 = isIPv4(source.address) && isIPv4(destination.address);
  const v6 = !v4 && isIPv6(source.address) && isIPv6(destination.address);
  if (!v4 && !v6) {
    // Mixed families: LOCAL, so the backend uses the connection's own addresses.
    return Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  }
  const addressBytes = v4 ? 4 : 16;
  const body = Buffer.alloc(addressBytes * 2 + 4);
  writeAddress(source.address, v4, body, 0);
  writeAddress(destination.address, v4, body, addressBytes);
  body.writeUInt16BE(source.port, addressBytes * 2);
  body.writeUInt16BE(destination.port, addressBytes * 2 + 2);
  const head = Buffer.from([0x21, v4 ? 0x11 : 0x21, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, body]);
}

function writeAddress(address: string, v4: boolean, out: Buffer, offset: number): void {
  if (v4) {
    const octets = address.split('.');
    for (let i = 0; i < 4; i += 1) out.writeUInt8(Number(octets[i]), offset + i);
    return;
  }
  const groups = expandIpv6(address);
  for (let i = 0; i < 8; i += 1) out.writeUInt16BE(groups[i] ?? 0, offset + i * 2);
}

function expandIpv6(address: string): number[] {
  let text = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const [a, b, c, d] = (v4tail[1] as string).split('.').map(Number) as [
      number,
      number,
      number,
      number,
    ];
    text = `${text.slice(0, v4tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(zeros).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
}
