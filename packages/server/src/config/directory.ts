import { passwordSchemes } from '@homing/directory';
import { z } from 'zod';
import { backendTls } from './common.js';
import { duration } from './duration.js';

export const ldap = z
  .strictObject({
    urls: z
      .array(
        z
          .string()
          .regex(/^ldaps?:\/\/[^/\s]+\/?$/, 'must be ldap://host[:port] or ldaps://host[:port]'),
      )
      .min(1)
      .describe('LDAP servers, tried in order; the one that last answered is tried first'),
    bind_dn: z.string().optional().describe('DN to bind as for searches; anonymous when unset'),
    bind_password: z.string().optional().describe('password of bind_dn; use ${ENV}'),
    base_dn: z.string().min(1).describe('where user entries are searched'),
    scope: z.enum(['base', 'one', 'sub']).default('sub').describe('search scope'),
    filter: z
      .string()
      .default('(|(uid={address})(mail={address})(mailLocalAddress={address}))')
      .describe(
        'search filter; {address}, {local} and {domain} are replaced by the escaped (RFC 4515) values',
      ),
    login_attributes: z
      .array(z.string().min(1))
      .default(['mailRoutingAddress', 'mail'])
      .describe('attributes tried in order for the login presented to the backend'),
    home_attribute: z
      .string()
      .default('mailHost')
      .describe('attribute naming the home backend (catalog key or host[:port])'),
    extra_attributes: z
      .array(z.string().min(1))
      .default(['mailLocalAddress'])
      .describe('further attributes fetched and kept with the route'),
    starttls: z.boolean().default(false).describe('upgrade ldap:// connections with StartTLS'),
    tls: backendTls.describe('TLS towards the LDAP servers (ldaps:// and StartTLS)'),
    timeout: duration('time limit of one LDAP operation', '3s'),
    connect_timeout: duration('time limit of connecting to one LDAP server', '2s'),
  })
  .describe('users in LDAP (the inetLocalMailRecipient schema by default)');

const sqlUrl = z
  .string()
  .regex(
    /^(postgres|postgresql|mysql|mariadb):\/\//,
    'must be postgres://user@host[:port]/database or mysql://…',
  );

export const sql = z
  .strictObject({
    url: z
      .union([sqlUrl, z.array(sqlUrl).min(1)])
      .describe(
        'database server URL (postgres://user:password@host:port/db or mysql://…), or a list tried in order, the one that last answered first; ?sslmode=require (or ssl=true) asks for TLS, verified',
      ),
    password: z
      .string()
      .optional()
      .describe('password for every URL, instead of one URL-encoded into each; use ${ENV}'),
    query: z
      .string()
      .min(1)
      .describe(
        'returns one row with a home column (catalog key or host[:port]) and optionally login; :address, :localpart and :domain are bound as parameters; no row: no such user; several: an error. PostfixAdmin: SELECT m.home, m.username AS login FROM alias a JOIN mailbox m ON m.username = a.goto WHERE a.address = :address AND a.active AND m.active (home being a column you add, or a constant)',
      ),
    password_query: z
      .string()
      .min(1)
      .optional()
      .describe(
        "returns the stored hash in a password column, for master-user backends and submission relay; :address is the row's login. PostfixAdmin: SELECT password FROM mailbox WHERE username = :address AND active",
      ),
    default_password_scheme: z
      .enum(passwordSchemes)
      .default('SHA512-CRYPT')
      .describe(
        "scheme of a stored hash with neither a {SCHEME} nor a $id$ prefix (as Dovecot's default_pass_scheme)",
      ),
    pool_size: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(4)
      .describe('most connections open to one database server; further queries wait'),
    timeout: duration('time limit of one query, the wait for a free connection included', '3s'),
    connect_timeout: duration('time limit of connecting to one database server', '2s'),
    idle_timeout: duration('an idle connection is closed after this long', '5m'),
    tls: backendTls.describe('TLS towards the database servers, when a URL asks for it'),
  })
  .describe('users in PostgreSQL, MySQL or MariaDB: a query per lookup (see deploy/sql/README.md)');

export const file = z
  .strictObject({
    path: z.string().min(1).describe('YAML file of users and aliases (relative to this file)'),
    watch: z.boolean().default(true).describe('reload the file when it changes'),
  })
  .describe('users in a YAML file');

export const directory = z
  .strictObject({
    source: z.enum(['ldap', 'file', 'sql']).describe('where users live'),
    ldap: ldap.optional(),
    sql: sql.optional(),
    file: file.optional(),
    cache: z
      .strictObject({
        max_entries: z.number().int().min(1).default(100_000).describe('most users kept'),
        ttl: duration('how long a found user is served from cache', '5m'),
        negative_ttl: duration('how long "no such user" is remembered', '30s'),
        stale_if_error: duration(
          'how long past its ttl a found user is still served while the source fails',
          '1h',
        ),
        source_retry: duration(
          'after the source failed, how long users with a stale entry get it at once instead of waiting for another failing query; 0: always ask first',
          '5s',
        ),
      })
      .prefault({})
      .describe('lookup cache in front of the source'),
    addresses: z
      .strictObject({
        default_domain: z.string().optional().describe('domain added to a bare login'),
        local_part_folding: z
          .enum(['none', 'lower'])
          .default('none')
          .describe('lower: fold the local part to lower case before looking it up'),
        detail_separator: z
          .string()
          .max(1)
          .default('+')
          .describe('separator of a recipient +detail that is stripped; "" keeps it'),
        domain_aliases: z
          .record(z.string(), z.string())
          .default({})
          .describe('other names of a domain: alias → domain'),
        max_length: z.number().int().min(3).max(4096).default(320).describe('longest address'),
      })
      .prefault({})
      .describe('how logins and recipients become lookup keys'),
    default_home: z.string().optional().describe('home of users whose entry names none'),
    allow_literal_hosts: z
      .boolean()
      .default(true)
      .describe('accept host[:port] in the home attribute, not only catalog keys'),
  })
  .describe('the user directory');
