/**
 * Local addresses that backend connections leave from. Linux gives each local address its
 * own ephemeral ports (net.ipv4.ip_local_port_range, about 28,000 by default) towards one
 * backend address and port; a node with more sessions than that towards one backend needs
 * more source addresses, as Dovecot's login_source_ips and nginx's proxy_bind give.
 */
export class SourceAddresses {
  #defaults: readonly string[] = [];
  #perBackend = new Map<string, readonly string[]>();
  #next = new Map<string, number>();

  /** From the config: `defaults` for every backend, replaced by a backend's own list. */
  set(defaults: readonly string[], perBackend: Readonly<Record<string, readonly string[]>>): void {
    this.#defaults = defaults;
    this.#perBackend = new Map(Object.entries(perBackend));
  }

  /**
   * The addresses to try for one connect of `backend`, the next in turn first and the others
   * after it, for when one has no port left. Empty: the kernel picks the source.
   */
  order(backend: string): readonly string[] {
    const list = this.#perBackend.get(backend) ?? this.#defaults;
    if (list.length < 2) return list;
    const key = list.join(' ');
    const start = (this.#next.get(key) ?? 0) % list.length;
    this.#next.set(key, start + 1);
    return [...list.slice(start), ...list.slice(0, start)];
  }
}

/** This process's: the server sets it from the config, backend connects read it. */
export const sourceAddresses = new SourceAddresses();
