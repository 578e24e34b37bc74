import { isIP } from 'node:net';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`, as the schema's pattern allows them. */
export function parseListen(listen: string): ListenAddress {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

/**
 * Whether two sockets of one process could not both bind: the same port and the same host, or
 * a wildcard that covers the other (`::` is dual-stack in Node, so it covers IPv4 too). Host
 * names are compared as written: the check is for what the file says, not what DNS says.
 */
export function clash(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.host === b.host) return true;
  return covers(a.host, b.host) || covers(b.host, a.host);
}

function covers(wildcard: string, host: string): boolean {
  if (wildcard === '::') return isIP(host) !== 0 || host === '0.0.0.0';
  if (wildcard === '0.0.0.0') return isIP(host) === 4;
  return false;
}
