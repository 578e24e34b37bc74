import cluster from 'node:cluster';
import { createServer } from 'node:net';

/** `reusePort` in server.listen() came with Node 22.12 and 23.1; older ones ignore it. */
export function nodeHasReusePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * Whether a listener on `port` gets a socket of its own in this process, with SO_REUSEPORT: in
 * a pool's workers on Linux, where the kernel then gives each worker an accept queue of its own.
 * Elsewhere Node throws on the option. Port 0 would give each worker a different port, so such
 * a listener keeps the one socket the primary shares.
 */
export function reusePortFor(
  port: number,
  worker = cluster.isWorker,
  platform: NodeJS.Platform = process.platform,
): boolean {
  return worker && port !== 0 && platform === 'linux' && nodeHasReusePort();
}

/**
 * Throws as a single process would when another process listens on one of the ports. Workers
 * binding with SO_REUSEPORT do not see such a process when it used the option too (a second
 * pool of the same user): both would listen and share the connections.
 */
export async function checkPortsFree(addresses: { host: string; port: number }[]): Promise<void> {
  await checkFree(addresses.filter(({ port }) => reusePortFor(port, true)));
}

/** Throws when one of the addresses cannot be bound now (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
export async function checkFree(addresses: { host: string; port: number }[]): Promise<void> {
  for (const { host, port } of addresses) {
    if (port === 0) continue;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
