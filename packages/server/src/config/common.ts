import { z } from 'zod';

export const port = z.number().int().min(1).max(65535);
export const tlsMode = z.enum(['none', 'starttls', 'implicit']);
export const forwardMode = z.enum(['none', 'id', 'xclient', 'proxy']);

export const endpoint = (
  defaultPort: number,
  forward: z.infer<typeof forwardMode>,
  about: string,
) =>
  z
    .strictObject({
      port: port.default(defaultPort).describe('TCP port'),
      tls: tlsMode.default('none').describe('none, starttls or implicit (TLS from the first byte)'),
      forward: forwardMode
        .default(forward)
        .describe(
          'how the client address reaches the backend: none, id (IMAP ID), xclient (POP3/SMTP/ManageSieve XCLIENT) or proxy (PROXY protocol v2)',
        ),
    })
    .describe(about);

export const backendTls = z
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

/** SMTP and LMTP services: how messages are sent there. */
const deliveryEndpoint = (defaultPort: number, about: string) =>
  endpoint(defaultPort, 'none', about)
    .extend({
      chunking: z
        .boolean()
        .default(true)
        .describe(
          'send messages with BDAT (RFC 3030) when the backend offers CHUNKING and PIPELINING (no 354 to wait for, no dot-stuffing); false: always DATA',
        ),
    })
    .describe(about);

export const endpoints = {
  imap: endpoint(143, 'none', 'IMAP service of the backend').optional(),
  pop3: endpoint(110, 'none', 'POP3 service of the backend').optional(),
  smtp: deliveryEndpoint(25, 'SMTP service of the backend').optional(),
  lmtp: deliveryEndpoint(24, 'LMTP service of the backend').optional(),
  submission: endpoint(587, 'none', 'submission service of the backend').optional(),
  managesieve: endpoint(4190, 'none', 'ManageSieve service of the backend (RFC 5804)').optional(),
};
