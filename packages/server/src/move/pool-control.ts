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
  /** The backend the node would send this login to now; undefined: no such user. */
  homeOf(login: string): Promise<string | undefined>;
}

/** The backend's name in a /directory/lookup answer. */
export function backendOf(answer: unknown): string | undefined {
  const backend = (answer as { backend?: { name?: unknown } } | undefined)?.backend;
  return typeof backend?.name === 'string' ? backend.name : undefined;
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
    async homeOf(login) {
      const query = new URLSearchParams({ address: login, kind: 'login' });
      return backendOf(await adminRequest(target, 'GET', `/directory/lookup?${query}`));
    },
  };
}
