import { defaultLimits as d } from '@homing/proxy-core';
import { z } from 'zod';
import { duration, formatDuration as ms } from './duration.js';

export const limits = z
  .strictObject({
    line_bytes: z
      .number()
      .int()
      .min(512)
      .default(d.lineBytes)
      .describe(
        'longest command line before login (and of an SMTP command); submission takes an AUTH command or SASL response up to 12288 octets (RFC 4954) when this is lower',
      ),
    id_line_bytes: z
      .number()
      .int()
      .min(512)
      .default(d.idLineBytes)
      .describe(
        'longest IMAP ID line before login (RFC 2971 allows 30 pairs of 30 and 1024 octets, ~32 KB, quoting aside); a longer ID is answered BAD [TOOBIG] and the session goes on; below line_bytes: ID gets line_bytes',
      ),
    literal_bytes: z
      .number()
      .int()
      .min(0)
      .default(d.literalBytes)
      .describe(
        'largest IMAP or ManageSieve literal before login; larger ones are refused unread (ManageSieve: the connection is closed)',
      ),
    commands: z.number().int().min(1).default(d.commands).describe('commands allowed before login'),
    idle_timeout: duration('silence allowed before login', ms(d.idleTimeoutMs)),
    line_timeout: duration(
      'time a client has to finish a command line from its first byte, before login (IMAP, POP3) and before the first MAIL (SMTP, in plaintext or implicit TLS): a client that trickles bytes is closed with the timeout reply; 0: no such deadline',
      ms(d.lineTimeoutMs),
    ),
    auth_timeout: duration('time from connect to a completed login', ms(d.authTimeoutMs)),
    failed_login_delay: duration(
      'least time a failed login takes (unknown user and wrong password alike)',
      ms(d.failedLoginDelayMs),
    ),
    backend_connect_timeout: duration(
      'one deadline for backend TCP + TLS + greeting',
      ms(d.backendConnectTimeoutMs),
    ),
    backend_login_timeout: duration(
      'time the backend has to answer the login',
      ms(d.backendLoginTimeoutMs),
    ),
    backend_command_timeout: duration(
      'time a backend has to answer each SMTP command towards it after the greeting (MAIL, RCPT, RSET, XCLIENT; LMTP and submission alike); DATA has backend_data_timeout',
      ms(d.backendCommandTimeoutMs),
    ),
    backend_data_timeout: duration(
      'time a backend has to take a message (SMTP DATA) and answer it',
      ms(d.backendDataTimeoutMs),
    ),
    directory_timeout: duration(
      'time a directory lookup may take; a slower one is answered as a temporary failure',
      ms(d.directoryTimeoutMs),
    ),
    proxy_header_timeout: duration(
      'time a new connection may take for its PROXY protocol header and, on an implicit-TLS listener, its TLS handshake',
      ms(d.proxyHeaderTimeoutMs),
    ),
    max_sessions: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'client connections this process holds at once; more get the busy reply before any login. 0: derived from the descriptor limit (two per session, after descriptor_reserve); a value above that is lowered to it',
      ),
    descriptor_reserve: z
      .number()
      .int()
      .min(16)
      .default(256)
      .describe(
        'descriptors kept out of the session capacity for listeners, LDAP, Redis, probes, logs and admin requests',
      ),
    tcp_keepalive: duration(
      'idle time after which TCP keepalive probes check a client socket (set on the listening socket, so from accept) and the backend socket of a spliced session (from one to two seconds after the splice: most logins are over by then), so that a vanished peer frees its session; 0: off',
      ms(d.tcpKeepaliveMs),
    ),
  })
  .prefault({})
  .describe('pre-login bounds, timeouts and capacity');

export const tls = z
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
    session_ticket_keys: z
      .string()
      .optional()
      .describe(
        'file of 48 random bytes (openssl rand 48), the same on every node: session tickets one node issues resume on the others; read again on reload. Without it each process makes its own key',
      ),
  })
  .optional()
  .describe('client-facing TLS');
