import { isIP } from 'node:net';
import { filterPlaceholders } from '@homing/directory';
import { z } from 'zod';
import { duration } from './duration.js';

const port = z.number().int().min(1).max(65535);
const tlsMode = z.enum(['none', 'starttls', 'implicit']);
const forwardMode = z.enum(['none', 'id', 'xclient', 'proxy']);

const endpoint = (defaultPort: number, forward: z.infer<typeof forwardMode>, about: string) =>
  z
    .strictObject({
      port: port.default(defaultPort).describe('TCP port'),
      tls: tlsMode.default('none').describe('none, starttls or implicit (TLS from the first byte)'),
      forward: forwardMode
        .default(forward)
        .describe(
          'how the client address reaches the backend: none, id (IMAP ID), xclient (POP3/SMTP XCLIENT) or proxy (PROXY protocol v2)',
        ),
    })
    .describe(about);

const backendTls = z
  .strictObject({
    verify: z
      .boolean()
      .default(true)
      .describe('verify the backend certificate; turning this off is logged at start'),
    ca_file: z
      .string()
      .optional()
      .describe(
        'PEM file of the CA(s) to trust instead of the system store (relative to this file)',
      ),
    servername: z
      .string()
      .optional()
      .describe('name to verify the certificate against, if not the host'),
  })
  .prefault({})
  .describe('TLS towards the backend');

const endpoints = {
  imap: endpoint(143, 'none', 'IMAP service of the backend').optional(),
  pop3: endpoint(110, 'none', 'POP3 service of the backend').optional(),
  smtp: endpoint(25, 'none', 'SMTP service of the backend').optional(),
  lmtp: endpoint(24, 'none', 'LMTP service of the backend').optional(),
  submission: endpoint(587, 'none', 'submission service of the backend').optional(),
};

const backend = z
  .strictObject({
    host: z.string().min(1).describe('host name or address'),
    tls: backendTls,
    master: z
      .strictObject({
        user: z.string().min(1).describe('master user name'),
        password: z.string().min(1).describe('master password; use ${ENV} rather than the literal'),
      })
      .optional()
      .describe('master credentials, used after the password was checked by LDAP bind'),
    probe_login: z
      .strictObject({
        user: z.string().min(1).describe('probe account'),
        password: z.string().min(1).describe('its password; use ${ENV}'),
      })
      .optional()
      .describe(
        'an account the active probes log in with (IMAP, POP3); without it they check the greeting',
      ),
    ...endpoints,
  })
  .describe('a mailbox server; users name it by its key in their home attribute');

const ldap = z
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

const file = z
  .strictObject({
    path: z.string().min(1).describe('YAML file of users and aliases (relative to this file)'),
    watch: z.boolean().default(true).describe('reload the file when it changes'),
  })
  .describe('users in a YAML file');

const directory = z
  .strictObject({
    source: z.enum(['ldap', 'file']).describe('where users live'),
    ldap: ldap.optional(),
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

const listen = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port');

const listener = z
  .strictObject({
    name: z.string().optional().describe('name in logs and metrics; default: protocol and address'),
    protocol: z
      .enum(['imap', 'pop3', 'smtp', 'lmtp', 'submission'])
      .describe(
        'imap (143, 993), pop3 (110, 995), smtp (the MX, 25), lmtp (from an edge MTA) or submission (587, 465)',
      ),
    listen: listen.describe('address and port, e.g. 0.0.0.0:143 or [::]:993'),
    tls: z
      .enum(['none', 'starttls', 'implicit'])
      .default('starttls')
      .describe(
        'starttls: plain, STARTTLS offered; implicit: TLS from the first byte (993); none: no TLS',
      ),
    proxy_protocol: z
      .boolean()
      .default(false)
      .describe('expect a PROXY v1/v2 header first (from trusted_proxies only)'),
    trusted_proxies: z
      .array(
        z
          .string()
          .refine((v) => isIP(v.split('/')[0] ?? '') !== 0, 'must be an address or CIDR block'),
      )
      .default([])
      .describe('addresses and CIDR blocks allowed to send PROXY headers'),
    allow_plaintext_auth: z
      .boolean()
      .default(false)
      .describe('allow passwords over a connection without TLS'),
    oauth: z
      .boolean()
      .default(false)
      .describe('offer XOAUTH2 and OAUTHBEARER, passed through to the backend'),
    policy: z
      .enum(['single', 'fanout'])
      .default('single')
      .describe(
        'smtp: a recipient on a second backend gets 452 and comes in another transaction (single), or all backends get the message at once (fanout; a failure then makes the sender retry all, so some may get two copies)',
      ),
    submission_mode: z
      .enum(['home', 'relay'])
      .default('home')
      .describe(
        "submission: replay AUTH on the user's home backend (home), or check the password by LDAP bind and hand mail to smtp.smarthost with XCLIENT LOGIN (relay)",
      ),
  })
  .describe('a client-facing listener');

const smarthost = z
  .strictObject({
    host: z.string().min(1).describe('host name or address'),
    port: port.default(25).describe('TCP port'),
    tls: tlsMode.default('none').describe('none, starttls or implicit'),
    verify: z.boolean().default(true).describe('verify the smarthost certificate'),
    ca_file: z.string().optional().describe('PEM CA file to trust (relative to this file)'),
  })
  .describe('the relay that submission relay mode hands mail to; it must trust homing for XCLIENT');

const smtp = z
  .strictObject({
    hostname: z
      .string()
      .optional()
      .describe('our name in greetings, EHLO and Received headers; default: the host name'),
    max_message_size: z
      .number()
      .int()
      .min(1024)
      .default(52_428_800)
      .describe('largest message in bytes, advertised as SIZE'),
    max_recipients: z.number().int().min(1).default(100).describe('recipients per transaction'),
    max_received: z
      .number()
      .int()
      .min(1)
      .default(50)
      .describe('more Received headers than this is refused as a mail loop'),
    smtputf8: z
      .boolean()
      .default(false)
      .describe('offer SMTPUTF8: only when every backend supports it (Dovecot 2.3 LMTP does not)'),
    dsn: z.boolean().default(false).describe('offer DSN: only when every backend supports it'),
    smarthost: smarthost.optional(),
  })
  .prefault({})
  .describe('SMTP, LMTP and submission listeners');

const limits = z
  .strictObject({
    line_bytes: z
      .number()
      .int()
      .min(512)
      .default(8192)
      .describe('longest command line before login'),
    literal_bytes: z
      .number()
      .int()
      .min(0)
      .default(16_384)
      .describe('largest IMAP literal before login; larger ones are refused unread'),
    commands: z.number().int().min(1).default(100).describe('commands allowed before login'),
    idle_timeout: duration('silence allowed before login', '60s'),
    auth_timeout: duration('time from connect to a completed login', '2m'),
    failed_login_delay: duration(
      'least time a failed login takes (unknown user and wrong password alike)',
      '2s',
    ),
    backend_connect_timeout: duration('one deadline for backend TCP + TLS + greeting', '5s'),
    backend_login_timeout: duration('time the backend has to answer the login', '15s'),
    proxy_header_timeout: duration('time a PROXY protocol header may take', '5s'),
  })
  .prefault({})
  .describe('pre-login bounds and timeouts');

const tls = z
  .strictObject({
    certificates: z
      .array(
        z.strictObject({
          cert: z.string().describe('PEM certificate chain file (relative to this file)'),
          key: z.string().describe('PEM private key file'),
          names: z
            .array(z.string())
            .optional()
            .describe('SNI names served; default: the names in the certificate'),
        }),
      )
      .min(1)
      .describe('certificates; the first is the default, the others are chosen by SNI'),
    min_version: z
      .enum(['TLSv1.2', 'TLSv1.3'])
      .default('TLSv1.2')
      .describe('oldest TLS version accepted'),
  })
  .optional()
  .describe('client-facing TLS');

const abuse = z
  .strictObject({
    max_connections_per_address: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe(
        'open connections from one client address (IPv6: one /64) on one node; 0: no limit',
      ),
    max_sessions_per_user: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe('spliced sessions of one user (across the pool with state: redis); 0: no limit'),
    failure_window: duration(
      'how long a failed login counts against its address and its user',
      '15m',
    ),
    delay_after_failures: z
      .number()
      .int()
      .min(0)
      .default(3)
      .describe(
        'failures in the window that cost nothing; the next attempts wait delay_step, doubling',
      ),
    delay_step: duration('the first extra wait before a login attempt is answered; 0: none', '1s'),
    max_delay: duration('the longest extra wait', '15s'),
    block_address_after: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe('failures of one address in the window that block it for block_time; 0: never'),
    block_user_after: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe(
        'failures for one user name (from anywhere) that block logins as that user; 0: never',
      ),
    block_time: duration('how long a block lasts', '15m'),
    exempt: z
      .array(
        z
          .string()
          .refine((v) => isIP(v.split('/')[0] ?? '') !== 0, 'must be an address or CIDR block'),
      )
      .default([])
      .describe('addresses and CIDR blocks without address limits (webmail, monitoring)'),
    state: z
      .enum(['memory', 'redis'])
      .default('memory')
      .describe(
        'memory: each node on its own; redis: counters, blocks, session counts, kicks and cache flushes shared by the pool',
      ),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'must be redis://… or rediss://…')
          .describe('redis://[user:password@]host:port[/db]; use ${ENV} for the password'),
        key_prefix: z
          .string()
          .default('homing:')
          .describe('before every key and the event channel'),
      })
      .optional()
      .describe(
        'the Redis shared by the pool; when it is down, each node goes on with its own state',
      ),
  })
  .prefault({})
  .describe('abuse limits: connections, failed-login delays and blocks');

export const configSchema = z
  .strictObject({
    node_name: z.string().optional().describe('name of this node in logs; default: the host name'),
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(256)])
      .default(1)
      .describe(
        'processes serving the listeners: a number, or auto for one per CPU; with more than one, a primary process supervises them',
      ),
    drain_timeout: duration(
      'on SIGTERM, how long spliced sessions and SMTP transactions may go on before they are closed',
      '30s',
    ),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
          .default('info')
          .describe('lowest level logged'),
        format: z
          .enum(['auto', 'json', 'pretty'])
          .default('auto')
          .describe('auto: pretty on a terminal, JSON otherwise'),
      })
      .prefault({})
      .describe('logging'),
    admin: z
      .strictObject({
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')
          .default('127.0.0.1:9925')
          .describe('address of the admin HTTP API'),
        token: z
          .string()
          .min(16)
          .optional()
          .describe('bearer token; required when listen is not a loopback address'),
      })
      .optional()
      .describe('admin HTTP API; off when absent'),
    directory,
    listeners: z.array(listener).default([]).describe('client-facing listeners'),
    tls,
    limits,
    smtp,
    backend_health: z
      .strictObject({
        backoff_min: duration('how long a failed backend is skipped at first', '1s'),
        backoff_max: duration('the longest it is skipped after repeated failures', '30s'),
        probe_interval: duration(
          'active probes: how often each backend service is checked (TCP, TLS, greeting); 0: off',
          '10s',
        ),
        probe_timeout: duration('time limit of one probe', '3s'),
      })
      .prefault({})
      .describe(
        'backend health: a backend that failed, or fails its probe, gets its users a fast temporary failure',
      ),
    abuse,
    pools: z
      .record(
        z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'),
        z.strictObject({
          members: z.array(z.string().min(1)).min(1).describe('backend names that share storage'),
        }),
      )
      .default({})
      .describe(
        'backends that share storage: a home naming a pool gets the member picked by rendezvous hashing of the user over the healthy members',
      ),
    backends: z
      .record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'), backend)
      .default({})
      .describe('the backend catalog'),
    backend_defaults: z
      .strictObject(endpoints)
      .prefault({
        imap: {},
        pop3: {},
        smtp: {},
        lmtp: {},
        submission: {},
      })
      .describe('services of a backend named by a literal host[:port]'),
  })
  .superRefine((config, ctx) => {
    const { source } = config.directory;
    if (!config.directory[source]) {
      ctx.addIssue({
        code: 'custom',
        path: ['directory', source],
        message: `directory.source is ${source}, so a directory.${source} section is required`,
      });
    }
    const filter = config.directory.ldap?.filter ?? '';
    for (const name of filterPlaceholders(filter)) {
      if (!['address', 'local', 'domain'].includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['directory', 'ldap', 'filter'],
          message: `unknown placeholder {${name}}; use {address}, {local} or {domain}`,
        });
      }
    }
    const home = config.directory.default_home;
    if (home !== undefined && !config.backends[home] && !config.directory.allow_literal_hosts) {
      ctx.addIssue({
        code: 'custom',
        path: ['directory', 'default_home'],
        message: `"${home}" is not a key of backends`,
      });
    }
    config.listeners.forEach((l, i) => {
      if (l.tls !== 'none' && !config.tls) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'tls'],
          message: `tls ${l.tls} needs certificates in the tls section`,
        });
      }
      if (l.protocol === 'submission' && l.submission_mode === 'relay' && !config.smtp.smarthost) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'submission_mode'],
          message: 'relay mode needs smtp.smarthost',
        });
      }
      if (l.proxy_protocol && l.trusted_proxies.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'trusted_proxies'],
          message: 'proxy_protocol needs trusted_proxies',
        });
      }
    });
    if (config.abuse.state === 'redis' && !config.abuse.redis) {
      ctx.addIssue({
        code: 'custom',
        path: ['abuse', 'state'],
        message: 'state redis needs abuse.redis.url',
      });
    }
    for (const [name, pool] of Object.entries(config.pools)) {
      if (config.backends[name]) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name],
          message: 'a pool cannot have the name of a backend',
        });
      }
      pool.members.forEach((member, i) => {
        if (!config.backends[member]) {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', name, 'members', i],
            message: `"${member}" is not a key of backends`,
          });
        }
      });
    }
    const admin = config.admin;
    if (admin && !admin.token && !/^(127\.|\[::1\]|localhost:)/.test(admin.listen)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'token'],
        message: 'a token is required when the admin API listens beyond loopback',
      });
    }
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
