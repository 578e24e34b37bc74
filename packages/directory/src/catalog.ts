import { DirectoryError } from './errors.js';

export const protocols = ['imap', 'pop3', 'smtp', 'lmtp', 'submission'] as const;
export type Protocol = (typeof protocols)[number];

/** How the connection to the backend is secured. */
export type TlsMode = 'none' | 'starttls' | 'implicit';
/** How the real client address is passed to the backend. */
export type ForwardMode = 'none' | 'id' | 'xclient' | 'proxy';

export interface Endpoint {
  readonly port: number;
  readonly tls: TlsMode;
  readonly forward: ForwardMode;
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
}

export interface CatalogOptions {
  readonly backends: Readonly<Record<string, Omit<Backend, 'name' | 'literal'>>>;
  /** Endpoints of a backend named by a literal `host[:port]` in the directory. */
  readonly literalDefaults: Readonly<Partial<Record<Protocol, Endpoint>>>;
  readonly literalTls: BackendTls;
  /** Refuse literal hosts entirely (only catalog names are valid homes). */
  readonly allowLiteral: boolean;
}

// host, host:port, [v6], [v6]:port; a bare v6 address has more than one colon and no port.
const LITERAL =
  /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)|([0-9a-fA-F:]+:[0-9a-fA-F:.]*))(?::(\d{1,5}))?$/;

/** Turns the home named in a directory entry into a backend: a catalog name or `host[:port]`. */
export class Catalog {
  readonly #backends = new Map<string, Backend>();
  readonly #options: CatalogOptions;

  constructor(options: CatalogOptions) {
    this.#options = options;
    for (const [name, spec] of Object.entries(options.backends)) {
      this.#backends.set(name.toLowerCase(), { ...spec, name, literal: false });
    }
  }

  get names(): string[] {
    return [...this.#backends.values()].map((b) => b.name);
  }

  get(name: string): Backend | undefined {
    return this.#backends.get(name.toLowerCase());
  }

  resolve(home: string): Backend {
    const named = this.get(home);
    if (named) return named;
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
