import { z } from 'zod';
import { port, tlsMode } from './common.js';
import { duration } from './duration.js';

export const smarthost = z
  .strictObject({
    host: z.string().min(1).describe('host name or address'),
    port: port.default(25).describe('TCP port'),
    tls: tlsMode.default('none').describe('none, starttls or implicit'),
    verify: z.boolean().default(true).describe('verify the smarthost certificate'),
    ca_file: z.string().optional().describe('PEM CA file to trust (relative to this file)'),
  })
  .describe('the relay that submission relay mode hands mail to; it must trust homing for XCLIENT');

export const journal = z
  .strictObject({
    state: z
      .enum(['memory', 'redis'])
      .default('memory')
      .describe(
        "memory: this process's own (a retry that reaches another node, or another of this node's workers, is not recognised); redis: shared by the pool and the workers, in abuse.redis",
      ),
    retention: duration(
      'how long a partly delivered message is remembered: longer than senders retry',
      '5d',
    ),
    max_entries: z
      .number()
      .int()
      .min(1)
      .default(100_000)
      .describe('messages remembered in memory; the oldest go first (redis: bounded by retention)'),
    fingerprint_bytes: z
      .number()
      .int()
      .min(1024)
      .max(131_072)
      .default(65_536)
      .describe(
        "most bytes of a message's header block in its fingerprint (with the envelope sender)",
      ),
  })
  .prefault({})
  .describe(
    'the MX delivery journal (policy fanout): recipients a message reached while the sender was told to try it again, so that the retry reaches only the others',
  );

export const backendPool = z
  .strictObject({
    max_idle: z
      .number()
      .int()
      .min(0)
      .default(32)
      .describe(
        'idle LMTP/SMTP connections kept per backend for the next client sessions; 0: none',
      ),
    idle_timeout: duration('an idle backend connection unused this long is closed', '30s'),
  })
  .prefault({})
  .describe(
    'MX and LMTP listeners: connections to mailbox servers kept between client sessions (not those with a PROXY header)',
  );

export const smtp = z
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
    journal,
    backend_pool: backendPool,
  })
  .prefault({})
  .describe('SMTP, LMTP and submission listeners');
