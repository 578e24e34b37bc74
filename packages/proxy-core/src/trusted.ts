import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** A set of addresses and CIDR blocks (`10.0.0.0/8`, `::1`), e.g. the proxies allowed to send PROXY headers. */
export class AddressSet {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  constructor(entries: readonly string[]) {
    this.#empty = entries.length === 0;
    for (const entry of entries) {
      const [address = '', bits] = entry.split('/');
      const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
      if (!family) throw new Error(`"${entry}" is not an address or CIDR block`);
      if (bits === undefined) this.#list.addAddress(address, family);
      else this.#list.addSubnet(address, Number(bits), family);
    }
  }

  has(address: string): boolean {
    if (this.#empty) return false;
    const plain =
      address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
    const family = isIPv4(plain) ? 'ipv4' : 'ipv6';
    return this.#list.check(plain, family);
  }
}
