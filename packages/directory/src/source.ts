import type { Address } from './address.js';

/** Attribute values as the source returned them, every attribute multi-valued. */
export type Attributes = Readonly<Record<string, readonly string[]>>;

/** What a source knows about one user, before the home is turned into a backend. */
export interface SourceEntry {
  /** LDAP DN, the file source's key, or the SQL row's login; used for the password check. */
  readonly id: string;
  /** The login to present to the backend (canonical address). */
  readonly login: string;
  /** The home as written in the directory: a catalog name or `host[:port]`. */
  readonly home: string;
  readonly attributes: Attributes;
}

export type SourceKind = 'ldap' | 'file' | 'sql';

/**
 * A place users live. `find` resolves with undefined for "no such user" and rejects with a
 * DirectoryError when it cannot tell.
 */
export interface UserSource {
  readonly kind: SourceKind;
  find(address: Address, signal?: AbortSignal): Promise<SourceEntry | undefined>;
  /** Present only where the source can check a password itself (LDAP bind). */
  verifyPassword?(entry: SourceEntry, password: string, signal?: AbortSignal): Promise<boolean>;
  /** Called by the source when its data changed wholesale (a reloaded file). */
  onChange?(listener: () => void): void;
  close(): Promise<void>;
}
