import { filterPlaceholders } from '@homing/directory';
import { z } from 'zod';
import { abuse } from './abuse.js';
import { clash, parseListen } from './addresses.js';
import { backend, sourceAddresses } from './backends.js';
import { endpoints } from './common.js';
import { directory } from './directory.js';
import { duration } from './duration.js';
import { limits, tls } from './limits.js';
import { listen, listener } from './listeners.js';
import { move } from './move.js';
import { smtp } from './smtp.js';
import { sqlIssues } from './sql-check.js';

export const configSchema = z
  .strictObject({
    node_name: z.string().optional().describe('name of this node in logs; default: the host name'),
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(256)])
      .default(1)
      .describe(
        'processes serving the listeners: a number, or auto for one per CPU; with more than one, a primary process supervises them',
      ),
    worker_balance: z
      .strictObject({
        new_connections: z
          .enum(['fill', 'spread'])
          .default('fill')
          .describe(
            "fill: the kernel gives every new connection to one worker until that worker is busy while CPUs are idle, or holds its share of sessions; then it spreads them over all, and gives them to one again once one could take the whole load; spread: always over all workers by the kernel's hash. One process costs less CPU per login than two each woken for half the logins: a second worker pays where the first is busy and a CPU is free for it. Needs Linux, Node 22.12 or later (a socket of its own for each worker) and homing's native module; otherwise spread",
          ),
        busy: z
          .number()
          .min(0)
          .max(1)
          .default(0.7)
          .describe(
            "fill: spread once the worker taking the connections is busy this share of its time (its event loop's utilization over the last interval), if idle_cpus are idle",
          ),
        idle_cpus: z
          .number()
          .min(0)
          .default(0.5)
          .describe(
            'fill: CPUs of the machine that must have been idle over the last interval for a busy worker to spread: a second worker on cores that are already busy costs more CPU and serves no more',
          ),
        sessions: z
          .number()
          .min(0)
          .max(1)
          .default(0.1)
          .describe(
            "fill: spread once the worker taking the connections holds this share of its session capacity (its descriptors), whatever its load: idle IMAP sessions fill a process's descriptors without making it busy. That worker keeps its lead, so a filled pool holds up to half this share fewer sessions at its limit than one spread from the start",
          ),
        interval: duration(
          "fill: how often the primary looks at its workers' load and decides where new connections go (at least 100ms)",
          '1s',
        ),
      })
      .prefault({})
      .describe('with more than one worker: which worker takes new connections'),
    relay: z
      .enum(['kernel', 'node'])
      .default('kernel')
      .describe(
        "how a logged-in session's bytes move between client and backend: kernel: splice(2), on Node's event loop and, once a session has moved 64 KiB, on a thread of homing's own, the bytes never copied through Node, for plain TCP on both sides (a session with TLS on either side always goes through Node); node: through Node; kernel where it is not built (not Linux, or no C compiler at build time) is node with a warning at start",
      ),
    process_priority: z
      .number()
      .int()
      .min(-20)
      .max(19)
      .optional()
      .describe(
        "nice value of homing's processes and threads, set at start; unset: as started (systemd: Nice= in the unit). Below 0 runs homing ahead of other work on the same CPUs, such as a mailbox server: a proxy in the path of every session that waits for a CPU holds up both its sides. Lowering it below the value homing started with needs CAP_SYS_NICE; without it homing warns and runs as started. A change applies at the next restart",
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
        flush_interval: duration(
          'info and debug lines gather for at most this long and are written together (one write for many sessions); warnings and errors, and every line at exit, are written at once; 0: each line at once',
          '1s',
        ),
      })
      .prefault({})
      .describe('logging'),
    admin: z
      .strictObject({
        listen: listen.default('127.0.0.1:9925').describe('address of the admin HTTP API'),
        token: z
          .string()
          .min(16)
          .describe(
            'bearer token every endpoint but /healthz and /readyz asks for, loopback included (other local users, other containers of a pod share it); ${HOMING_ADMIN_TOKEN} keeps it out of the file',
          ),
        public_metrics: z.boolean().default(false).describe('serve /metrics without the token too'),
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
    move,
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
      .strictObject({
        source_addresses: sourceAddresses
          .default([])
          .describe(
            "local addresses connections to every backend leave from, taken in turn, the next when one has no source port left; each allows as many connections as net.ipv4.ip_local_port_range holds, to all backends together (a bound port is the address's for every destination), and a port whose connection homing closed waits out TIME_WAIT (60 s); empty: the kernel picks, and each backend address and port gets the whole range (net.ipv4.tcp_tw_reuse = 1 lets it take ports in TIME_WAIT after a second)",
          ),
        ...endpoints,
      })
      .prefault({
        imap: {},
        pop3: {},
        smtp: {},
        lmtp: {},
        submission: {},
        managesieve: {},
      })
      .describe(
        'services of a backend named by a literal host[:port], and the source addresses of every backend',
      ),
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
    for (const issue of sqlIssues(config.directory.sql)) {
      ctx.addIssue({ code: 'custom', ...issue });
    }
    const home = config.directory.default_home;
    if (home !== undefined && !config.backends[home] && !config.directory.allow_literal_hosts) {
      ctx.addIssue({
        code: 'custom',
        path: ['directory', 'default_home'],
        message: `"${home}" is not a key of backends`,
      });
    }
    const bound: { key: string; address: ReturnType<typeof parseListen> }[] = [];
    if (config.admin)
      bound.push({ key: 'admin.listen', address: parseListen(config.admin.listen) });
    config.listeners.forEach((l, i) => {
      const address = parseListen(l.listen);
      const other = bound.find((b) => clash(b.address, address));
      if (other) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'listen'],
          message: `${l.listen} is also taken by ${other.key}: one address, one listener`,
        });
      }
      bound.push({ key: `listeners.${i}.listen`, address });
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
      const sql = config.directory.source === 'sql' ? config.directory.sql : undefined;
      if (
        l.submission_mode === 'relay' &&
        l.protocol === 'submission' &&
        sql &&
        !sql.password_query
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'submission_mode'],
          message: 'relay mode checks passwords: directory.sql.password_query is required',
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
    if (config.smtp.journal.state === 'redis' && !config.abuse.redis) {
      ctx.addIssue({
        code: 'custom',
        path: ['smtp', 'journal', 'state'],
        message: 'state redis needs abuse.redis.url',
      });
    }
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
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
