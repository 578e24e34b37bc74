import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from './duration.js';

export const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0 to 65535');

export const listener = z
  .strictObject({
    name: z.string().optional().describe('name in logs and metrics; default: protocol and address'),
    protocol: z
      .enum(['imap', 'pop3', 'smtp', 'lmtp', 'submission', 'managesieve'])
      .describe(
        'imap (143, 993), pop3 (110, 995), smtp (the MX, 25), lmtp (from an edge MTA), submission (587, 465) or managesieve (4190)',
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
      .default('fanout')
      .describe(
        'smtp: a message for recipients on several backends goes to all of them at once, and when one fails the retry reaches only the recipients still without it (fanout, with smtp.journal; while the journal is unavailable, as single); or a recipient on a second backend gets 452 and the sender sends it in another transaction, after its retry delay (single)',
      ),
    greeting_delay: duration(
      'smtp, lmtp, submission: pause before the 220 greeting; a client that talks during it is refused as an early talker (421). 0: greet at once',
      '0ms',
    ),
    submission_mode: z
      .enum(['home', 'relay'])
      .default('home')
      .describe(
        "submission: replay AUTH on the user's home backend (home), or check the password with the directory (LDAP bind or SQL password_query) and hand mail to smtp.smarthost with XCLIENT LOGIN (relay)",
      ),
  })
  .describe('a client-facing listener');
