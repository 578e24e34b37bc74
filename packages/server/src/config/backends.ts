import { z } from 'zod';
import { backendTls, endpoints } from './common.js';

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
    ...endpoints,
  })
  .describe('a mailbox server; users name it by its key in their home attribute');
