export {
  type Address,
  type AddressKind,
  type AddressRules,
  defaultAddressRules,
  normalizeAddress,
} from './address.js';
export { type CacheCounters, type CacheOptions, type CacheOutcome, LookupCache } from './cache.js';
export type { PoolSpec, ResolveOptions } from './catalog.js';
export {
  type Backend,
  type BackendTls,
  Catalog,
  type CatalogOptions,
  type Endpoint,
  type ForwardMode,
  type MasterCredentials,
  type Protocol,
  parseLiteral,
  protocols,
  type TlsMode,
} from './catalog.js';
export type { LookupOptions } from './directory.js';
export {
  Directory,
  type DirectoryOptions,
  type LookupOrigin,
  type LookupResult,
  type Route,
} from './directory.js';
export { DirectoryError, type DirectoryErrorCode } from './errors.js';
export { escapeFilterValue, filterPlaceholders, renderFilter } from './escape.js';
export { FileSource, type FileSourceOptions, usersFileSchema } from './file-source.js';
export { LatencyHistogram, latencyBuckets } from './latency.js';
export type { LdapTlsOptions } from './ldap-connection.js';
export { LdapSource, type LdapSourceOptions } from './ldap-source.js';
export {
  type PasswordScheme,
  PasswordSchemeError,
  passwordSchemes,
  schemeOf,
  verifyPasswordHash,
} from './password-hash.js';
export { rendezvousPick, rendezvousWeight } from './pool.js';
export type { Attributes, SourceEntry, SourceKind, UserSource } from './source.js';
export { compileQuery, SqlQueryError, sqlPlaceholders } from './sql-params.js';
export { SqlSource, type SqlSourceOptions } from './sql-source.js';
export { parseSqlUrl, type SqlServer, SqlUrlError } from './sql-url.js';
export {
  formatIssue,
  parseYaml,
  type YamlIssue,
  YamlSchemaError,
  yamlLines,
} from './yaml-schema.js';
