import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from './duration.js';

export const abuse = z
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
        'failures for one user name (from anywhere) in the window that block logins as that user for block_time (whom: block_user_scope); 0: never',
      ),
    block_user_scope: z
      .enum(['failing_addresses', 'everywhere'])
      .default('failing_addresses')
      .describe(
        'whom a user block refuses: failing_addresses, only addresses that have failed for that user in the window (strangers cannot lock the user out; they still slow the user down by delay_step); everywhere, the user too',
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
