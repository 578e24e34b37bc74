import {
  type Backend,
  Catalog,
  Directory,
  type Endpoint,
  FileSource,
  LdapSource,
  type Protocol,
  protocols,
  SqlSource,
  type UserSource,
} from '@homing/directory';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { sqlUrls } from './config/sql-check.js';

type Endpoints = Partial<Record<Protocol, Endpoint>>;

function pickEndpoints(spec: Partial<Record<Protocol, Endpoint | undefined>>): Endpoints {
  const out: Endpoints = {};
  for (const protocol of protocols) {
    const endpoint = spec[protocol];
    if (endpoint) out[protocol] = endpoint;
  }
  return out;
}

function backendTls(tls: Config['backends'][string]['tls']): Backend['tls'] {
  return { verify: tls.verify, caFile: tls.ca_file, servername: tls.servername };
}

export function buildCatalog(config: Config): Catalog {
  return new Catalog({
    backends: Object.fromEntries(
      Object.entries(config.backends).map(([name, b]) => [
        name,
        {
          host: b.host,
          endpoints: pickEndpoints(b),
          tls: backendTls(b.tls),
          master: b.master,
          probeLogin: b.probe_login,
        },
      ]),
    ),
    pools: config.pools,
    literalDefaults: pickEndpoints(config.backend_defaults),
    literalTls: { verify: true },
    allowLiteral: config.directory.allow_literal_hosts,
  });
}

async function buildSource(config: Config, log: Logger): Promise<UserSource> {
  const { directory } = config;
  const rules = addressRules(config);
  if (directory.source === 'file') {
    const file = directory.file;
    if (!file) throw new Error('directory.file is required'); // the schema already refuses this
    return FileSource.open({
      path: file.path,
      watch: file.watch,
      rules,
      onReload: (users) => log.info({ users, file: file.path }, 'users file loaded'),
      onReloadError: (error) =>
        log.error({ err: error, file: file.path }, 'users file not reloaded; previous users stay'),
    });
  }
  if (directory.source === 'sql') return buildSqlSource(config, log);
  const ldap = directory.ldap;
  if (!ldap) throw new Error('directory.ldap is required');
  if (!ldap.tls.verify) log.warn('LDAP TLS certificate verification is off');
  return new LdapSource({
    urls: ldap.urls,
    bindDn: ldap.bind_dn,
    bindPassword: ldap.bind_password,
    startTls: ldap.starttls,
    tls: backendTls(ldap.tls),
    timeoutMs: ldap.timeout,
    connectTimeoutMs: ldap.connect_timeout,
    baseDn: ldap.base_dn,
    scope: ldap.scope,
    filter: ldap.filter,
    loginAttributes: ldap.login_attributes,
    homeAttribute: ldap.home_attribute,
    extraAttributes: ldap.extra_attributes,
  });
}

function buildSqlSource(config: Config, log: Logger): SqlSource {
  const sql = config.directory.sql;
  if (!sql) throw new Error('directory.sql is required');
  if (!sql.tls.verify) log.warn('SQL TLS certificate verification is off');
  return new SqlSource({
    urls: sqlUrls(sql),
    password: sql.password,
    query: sql.query,
    passwordQuery: sql.password_query,
    defaultPasswordScheme: sql.default_password_scheme,
    maxConnections: sql.pool_size,
    timeoutMs: sql.timeout,
    connectTimeoutMs: sql.connect_timeout,
    idleTimeoutMs: sql.idle_timeout,
    tls: backendTls(sql.tls),
  });
}

export function addressRules(config: Config) {
  const a = config.directory.addresses;
  return {
    defaultDomain: a.default_domain,
    localPartFolding: a.local_part_folding,
    detailSeparator: a.detail_separator,
    domainAliases: a.domain_aliases,
    maxLength: a.max_length,
  };
}

export async function buildDirectory(config: Config, log: Logger): Promise<Directory> {
  for (const [name, b] of Object.entries(config.backends)) {
    if (!b.tls.verify) log.warn({ backend: name }, 'backend TLS certificate verification is off');
  }
  const { cache } = config.directory;
  return new Directory({
    source: await buildSource(config, log),
    catalog: buildCatalog(config),
    rules: addressRules(config),
    cache: {
      maxEntries: cache.max_entries,
      ttlMs: cache.ttl,
      negativeTtlMs: cache.negative_ttl,
      staleIfErrorMs: cache.stale_if_error,
      sourceRetryMs: cache.source_retry,
    },
    defaultHome: config.directory.default_home,
  });
}
