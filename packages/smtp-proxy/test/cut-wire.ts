import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a server that can be told to die: once armed with a marker, the
 * first connection whose bytes towards the server carry it is cut both ways, as when a mailbox
 * server goes down in the middle of a message. Later connections pass again. New connections
 * can be sent elsewhere (`target`), as a balancer in front of a pool does.
 */
export class CutWire {
  /** Where new connections go. */
  target: number;
  /** Connections relayed so far. */
  connections = 0;
  #marker: string | undefined;
  readonly #sockets = new Set<Socket>();
  /** The client side of each connection open now. */
  readonly #clients = new Set<Socket>();

  private constructor(
    readonly server: Server,
    readonly port: number,
    target: number,
  ) {
    this.target = target;
  }

  static async start(targetPort: number): Promise<CutWire> {
    let wire: CutWire | undefined;
    const server = createServer((client) => {
      const self = wire as CutWire;
      self.connections += 1;
      self.#clients.add(client);
      client.on('close', () => self.#clients.delete(client));
      const backend = connect({ host: '127.0.0.1', port: self.target });
      for (const s of [client, backend]) {
        self.#sockets.add(s);
        s.on('close', () => self.#sockets.delete(s));
        s.on('error', () => {});
      }
      let seen = '';
      client.on('data', (chunk: Buffer) => {
        const marker = self.#marker;
        if (marker !== undefined) {
          // Kept short: a marker cut between two chunks is still found.
          seen = (seen + chunk.toString('latin1')).slice(-(marker.length + chunk.length));
          if (seen.includes(marker)) {
            self.#marker = undefined;
            client.destroy();
            backend.destroy();
            return;
          }
        }
        backend.write(chunk);
      });
      backend.on('data', (chunk: Buffer) => client.write(chunk));
      client.on('close', () => backend.destroy());
      backend.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    wire = new CutWire(server, address.port, targetPort);
    return wire;
  }

  /** New connections go to `port`; those open now are closed, as a node that went away. */
  switchTo(port: number): void {
    this.target = port;
    for (const s of this.#sockets) s.destroy();
  }

  /** The next connection that carries `marker` towards the backend is cut. */
  cutAt(marker: string): void {
    this.#marker = marker;
  }

  /** Connections open now. */
  get open(): number {
    return this.#clients.size;
  }

  get armed(): boolean {
    return this.#marker !== undefined;
  }

  close(): void {
    this.server.close();
    for (const s of this.#sockets) s.destroy();
  }
}
