import { type AdminTarget, adminRequest } from '../commands/admin-client.js';

/**
 * What a move asks of the running pool, through one node's admin API: that node reaches the
 * others through Redis when the pool shares state (else it acts alone), and its workers itself.
 */
export interface PoolControl {
  /** Returns the milliseconds granted (the node caps them at move.freeze_max). */
  freeze(login: string, ms: number): Promise<number>;
  thaw(login: string): Promise<void>;
  kick(login: string): Promise<number>;
  flush(address: string): Promise<void>;
}

export function adminPool(target: AdminTarget): PoolControl {
  const post = (path: string, body: unknown) => adminRequest(target, 'POST', path, body);
  return {
    async freeze(login, ms) {
      const { frozen_ms } = (await post('/users/freeze', { user: login, ms })) as {
        frozen_ms: number;
      };
      return frozen_ms;
    },
    async thaw(login) {
      await post('/users/thaw', { user: login });
    },
    async kick(login) {
      const { kicked } = (await post('/sessions/kick', { user: login })) as { kicked: number };
      return kicked;
    },
    async flush(address) {
      await post('/directory/flush', { address });
    },
  };
}
