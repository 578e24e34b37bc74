import { z } from 'zod';
import { duration } from './duration.js';

export const move = z
  .strictObject({
    freeze_max: duration(
      "longest a move keeps a user frozen without renewing it (the mover renews it while it works): a dead mover's freeze ends by itself after this; senders retry a 451 after minutes anyway",
      '5m',
    ),
    state_dir: z
      .string()
      .default('/var/lib/homing/moves')
      .describe(
        'where `homing move` records the phase of each move, so that --resume and --abort can finish or undo it (relative to this file)',
      ),
    ldap_bind_dn: z
      .string()
      .optional()
      .describe(
        'DN that may write the home attribute (the flip); default: directory.ldap.bind_dn; --bind-dn on the command line wins',
      ),
    ldap_bind_password: z.string().optional().describe('password of ldap_bind_dn; use ${ENV}'),
  })
  .prefault({})
  .describe('moving users between mailbox servers (`homing move`)');
