import { describe, expect, it } from 'vitest';
import { encodeProxyV2, PROXY_V2_SIGNATURE, parseProxyHeader } from '../src/proxy-protocol.js';

const v1 = (s: string) => Buffer.from(s, 'latin1');

describe('PROXY v1', () => {
  it('reads TCP4 and leaves what follows', () => {
    const line = 'PROXY TCP4 192.0.2.7 198.51.100.1 4711 143\r\n';
    const buf = v1(`${line}a1 NOOP\r\n`);
    const header = parseProxyHeader(buf);
    expect(header).toEqual({
      kind: 'ok',
      version: 1,
      consumed: line.length,
      source: { address: '192.0.2.7', port: 4711 },
      destination: { address: '198.51.100.1', port: 143 },
    });
    expect(buf.subarray(line.length).toString()).toBe('a1 NOOP\r\n');
  });

  it('reads TCP6 and UNKNOWN', () => {
    expect(parseProxyHeader(v1('PROXY TCP6 2001:db8::7 2001:db8::1 4711 993\r\n'))).toMatchObject({
      source: { address: '2001:db8::7', port: 4711 },
    });
    expect(parseProxyHeader(v1('PROXY UNKNOWN\r\n'))).toEqual({
      kind: 'ok',
      version: 1,
      consumed: 15,
    });
  });

  it.each(['', 'PRO', 'PROXY TCP4 192.0.2.7'])('waits for more after %j', (s) => {
    expect(parseProxyHeader(v1(s))).toEqual({ kind: 'incomplete' });
  });

  it.each([
    ['not PROXY', 'a1 LOGIN alice x\r\n'],
    ['bad family', 'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'],
    ['address of the wrong family', 'PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n'],
    ['bad address', 'PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n'],
    ['port too big', 'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'],
    ['port with leading zero', 'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n'],
    ['missing field', 'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'],
    ['too long', `PROXY TCP4 ${'1'.repeat(120)}`],
    ['NUL', 'PROXY TCP4 1.2.3.4\u0000 1.2.3.4 1 2\r\n'],
  ])('refuses %s', (_name, s) => {
    expect(parseProxyHeader(v1(s)).kind).toBe('invalid');
  });
});

describe('PROXY v2', () => {
  it.each([
    ['192.0.2.7', '198.51.100.1', '192.0.2.7', '198.51.100.1'],
    ['2001:db8::7', '::1', '2001:db8::7', '::1'],
    ['::ffff:192.0.2.7', '2001:db8:0:0:1::1', '::ffff:c000:207', '2001:db8::1:0:0:1'],
  ])('round-trips %s → %s', (src, dst, srcOut, dstOut) => {
    const encoded = encodeProxyV2({ address: src, port: 4711 }, { address: dst, port: 993 });
    const header = parseProxyHeader(Buffer.concat([encoded, Buffer.from('rest')]));
    expect(header).toEqual({
      kind: 'ok',
      version: 2,
      consumed: encoded.length,
      source: { address: srcOut, port: 4711 },
      destination: { address: dstOut, port: 993 },
    });
  });

  it('reads LOCAL as "no address" (health checks)', () => {
    const local = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    expect(parseProxyHeader(local)).toEqual({ kind: 'ok', version: 2, consumed: 16 });
  });

  it('skips TLVs after the addresses', () => {
    const base = encodeProxyV2(
      { address: '192.0.2.7', port: 1 },
      { address: '192.0.2.8', port: 2 },
    );
    const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]);
    const withTlv = Buffer.concat([base, tlv]);
    withTlv.writeUInt16BE(base.length - 16 + tlv.length, 14);
    expect(parseProxyHeader(withTlv)).toMatchObject({ kind: 'ok', consumed: withTlv.length });
  });

  it('waits for the whole header', () => {
    const encoded = encodeProxyV2(
      { address: '192.0.2.7', port: 1 },
      { address: '192.0.2.8', port: 2 },
    );
    for (let n = 1; n < encoded.length; n += 1) {
      expect(parseProxyHeader(encoded.subarray(0, n))).toEqual({ kind: 'incomplete' });
    }
  });

  it.each([
    ['version 1 in a v2 header', [0x11, 0x11, 0x00, 0x0c]],
    ['unknown command', [0x2f, 0x11, 0x00, 0x0c]],
    ['a length beyond the limit', [0x21, 0x11, 0xff, 0xff]],
    ['IPv4 with too few bytes', [0x21, 0x11, 0x00, 0x04]],
    ['UNIX sockets', [0x21, 0x31, 0x00, 0x00]],
  ])('refuses %s', (_name, bytes) => {
    const body = Buffer.alloc(64);
    const header = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from(bytes), body]);
    expect(parseProxyHeader(header).kind).toBe('invalid');
  });
});
