import { isIP } from 'node:net';
import { z } from 'zod';
import { backendTls, endpoints } from './common.js';

export const sourceAddresses = z
  .array(z.string().refine((a) => isIP(a) !== 0, 'not an IP address'))
  .describe(
    'local addresses backend connections leave from, taken in turn, the next when one has no source port left (each has its own net.ipv4.ip_local_port_range towards a backend)',
  );

export const backend = z
  .strictObject({
    host: z.string().min(1).describe('host name or address'),
    tls: backendTls,
    master: z
      .strictObject({
        user: z.string().min(1).describe('master user name'),
        password: z.string().min(1).describe('master password; use ${ENV} rather than the literal'),
      })
      .optional()
      .describe(
        'master credentials, used after the directory checked the password (LDAP bind or SQL password_query)',
      ),
    probe_login: z
      .strictObject({
        user: z.string().min(1).describe('probe account'),
        password: z.string().min(1).describe('its password; use ${ENV}'),
      })
      .optional()
      .describe(
        'an account the active probes log in with (IMAP, POP3, ManageSieve); without it they check the greeting',
      ),
    source_addresses: sourceAddresses
      .optional()
      .describe('source addresses for this backend; default: backend_defaults.source_addresses'),
    ...endpoints,
  })
  .describe('a mailbox server; users name it by its key in their home attribute');
