import { z } from 'zod';
import { port, tlsMode } from './common.js';

export const smarthost = z
  .strictObject({
    host: z.string().min(1).describe('host name or address'),
    port: port.default(25).describe('TCP port'),
    tls: tlsMode.default('none').describe('none, starttls or implicit'),
    verify: z.boolean().default(true).describe('verify the smarthost certificate'),
    ca_file: z.string().optional().describe('PEM CA file to trust (relative to this file)'),
  })
  .describe('the relay that submission relay mode hands mail to; it must trust homing for XCLIENT');

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
  })
  .prefault({})
  .describe('SMTP, LMTP and submission listeners');
