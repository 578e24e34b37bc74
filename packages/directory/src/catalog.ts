import { DirectoryError } from './errors.js';
import { rendezvousPick } from './pool.js';

export const protocols = ['imap', 'pop3', 'smtp', 'lmtp', 'submission', 'managesieve'] as const;
export type Protocol = (typeof protocols)[number];

/** How the connection to the backend is secured. */
export type TlsMode = 'none' | 'starttls' | 'implicit';
/** How the real client address is passed to the backend. */
export type ForwardMode = 'none' | 'id' | 'xclient' | 'proxy';

export interface Endpoint {
  readonly port: number;
  readonly tls: TlsMode;
  readonly forward: ForwardMode;
  /** SMTP/LMTP: BDAT when the backend offers it (the default); false: always DATA. */
  readonly chunking?: boolean | undefined;
}

export interface BackendTls {
  /** Verify the backend's certificate (on by default; turning it off is logged at start). */
  readonly verify: boolean;
  readonly caFile?: string | undefined;
  /** Name to verify the certificate against, when it differs from `host`. */
  readonly servername?: string | undefined;
}

export interface MasterCredentials {
  readonly user: string;
  readonly password: string;
}

export interface Backend {
  readonly name: string;
  readonly host: string;
  readonly endpoints: Readonly<Partial<Record<Protocol, Endpoint>>>;
  readonly tls: BackendTls;
  readonly master?: MasterCredentials | undefined;
  /** True when the route named `host[:port]` directly instead of a catalog entry. */
  readonly literal: boolean;
  /** An account that exists for health probes only: they log in with it (IMAP, POP3). */
  readonly probeLogin?: MasterCredentials | undefined;
  /** The pool this backend was picked from, when the home named a pool. */
  readonly pool?: string | undefined;
}

/** Backends that share storage (NFS and the like): any member can serve any user of the pool. */
export interface PoolSpec {
  /** Catalog backend names. */
  readonly members: readonly string[];
}

export interface ResolveOptions {
  /** What a pool member is picked by: the user's login, which every node sees alike. */
  readonly key: string;
  /** Whether a backend (by catalog name) should get users now; without it, every one should. */
  readonly isHealthy?: ((backendName: string) => boolean) | undefined;
}

interface Pool {
  readonly name: string;
  /** Keyed by the lowercased backend name, which is also what is hashed. */
  readonly members: ReadonlyMap<string, Backend>;
}

export interface CatalogOptions {
  readonly backends: Readonly<Record<string, Omit<Backend, 'name' | 'literal' | 'pool'>>>;
  /** Homes that name a group of backends sharing storage; the member is picked per user. */
  readonly pools?: Readonly<Record<string, PoolSpec>> | undefined;
  /** Endpoints of a backend named by a literal `host[:port]` in the directory. */
  readonly literalDefaults: Readonly<Partial<Record<Protocol, Endpoint>>>;
  readonly literalTls: BackendTls;
  /** Refuse literal hosts entirely (only catalog names are valid homes). */
  readonly allowLiteral: boolean;
}

// host, host:port, [v6], [v6]:port; a bare v6 address has more than one colon and no port.
const LITERAL =
  /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)|([0-9a-fA-F:]+:[0-9a-fA-F:.]*))(?::(\d{1,5}))?$/;

/**
 * Turns the home named in a directory entry into a backend: a catalog name, a pool of catalog
 * backends, or `host[:port]`.
 */
export class Catalog {
  readonly #backends = new Map<string, Backend>();
  readonly #pools = new Map<string, Pool>();
  readonly #options: CatalogOptions;

  constructor(options: CatalogOptions) {
    this.#options = options;
    for (const [name, spec] of Object.entries(options.backends)) {
      this.#backends.set(name.toLowerCase(), { ...spec, name, literal: false });
    }
    for (const [name, spec] of Object.entries(options.pools ?? {})) {
      this.#pools.set(name.toLowerCase(), this.#pool(name, spec));
    }
  }

  /** Backend names (pool members included, pools themselves not). */
  get names(): string[] {
    return [...this.#backends.values()].map((b) => b.name);
  }

  get poolNames(): string[] {
    return [...this.#pools.values()].map((p) => p.name);
  }

  get(name: string): Backend | undefined {
    return this.#backends.get(name.toLowerCase());
  }

  /** The members of a pool, by backend name; undefined when `name` is not a pool. */
  poolMembers(name: string): string[] | undefined {
    const pool = this.#pools.get(name.toLowerCase());
    return pool && [...pool.members.values()].map((b) => b.name);
  }

  /**
   * The backend for a home. A pool needs `options.key`: its member is picked by rendezvous
   * hashing of the key over the members `isHealthy` accepts, so every node picks the same one
   * with no coordination, and a member going down moves only its own users.
   */
  resolve(home: string, options?: ResolveOptions): Backend {
    const named = this.get(home);
    if (named) return named;
    // Before literals: a pool name such as "nfs-a" would also parse as a host name.
    const pool = this.#pools.get(home.toLowerCase());
    if (pool) return pick(pool, options);
    const literal = this.#options.allowLiteral ? parseLiteral(home) : undefined;
    if (!literal) {
      throw new DirectoryError('BAD_ROUTE', `home "${home}" is not a backend in the catalog`);
    }
    const endpoints: Partial<Record<Protocol, Endpoint>> = {};
    for (const [protocol, endpoint] of Object.entries(this.#options.literalDefaults)) {
      // A port in the attribute applies to every protocol: such entries name one service.
      endpoints[protocol as Protocol] =
        literal.port === undefined ? endpoint : { ...endpoint, port: literal.port };
    }
    return {
      name: home,
      host: literal.host,
      endpoints,
      tls: this.#options.literalTls,
      literal: true,
    };
  }

  #pool(name: string, spec: PoolSpec): Pool {
    const where = `pools.${name}`;
    if (this.#backends.has(name.toLowerCase())) {
      throw new Error(`${where}: a backend has the same name`);
    }
    if (this.#pools.has(name.toLowerCase())) throw new Error(`${where}: the name is used twice`);
    if (spec.members.length === 0) throw new Error(`${where}: no members`);
    const members = new Map<string, Backend>();
    for (const member of spec.members) {
      const backend = this.get(member);
      if (!backend) throw new Error(`${where}: member "${member}" is not a backend`);
      const id = backend.name.toLowerCase();
      if (members.has(id)) throw new Error(`${where}: member "${member}" is listed twice`);
      members.set(id, { ...backend, pool: name });
    }
    return { name, members };
  }
}

function pick(pool: Pool, options: ResolveOptions | undefined): Backend {
  if (options === undefined) {
    throw new DirectoryError(
      'BAD_ROUTE',
      `home "${pool.name}" is a pool: picking its member needs the user's key`,
    );
  }
  const { key, isHealthy } = options;
  const all = [...pool.members];
  const healthy = isHealthy ? all.filter(([, backend]) => isHealthy(backend.name)) : all;
  // With no member healthy, all are candidates: the user gets the temporary failure of the member
  // the hash names (the right answer while the whole pool is down), every node agrees on that
  // member, and users return to their own member the moment it is back.
  const ids = (healthy.length > 0 ? healthy : all).map(([id]) => id);
  // A pool has members (checked when the catalog was built), so there is always a pick.
  return pool.members.get(rendezvousPick(key, ids) as string) as Backend;
}

export function parseLiteral(value: string): { host: string; port?: number } | undefined {
  const m = LITERAL.exec(value);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? m[3];
  if (!host) return undefined;
  if (m[3] !== undefined && m[4] !== undefined) return undefined; // "a:b:c:443" is ambiguous
  if (m[4] === undefined) return { host };
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}
