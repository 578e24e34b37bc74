import type { Logger } from 'pino';
import type { AdminNode } from '../admin.js';
import { buildCatalog, buildDirectory } from '../build-directory.js';
import type { Config } from '../config/schema.js';
import { writeBind } from './flip.js';
import type { MoveContextFactory } from './jobs.js';
import { backendOf, type PoolControl } from './pool-control.js';

/** The node's own admin operations as a move's pool control (they reach the pool themselves). */
export function nodePool(admin: AdminNode): PoolControl {
  return {
    freeze: (login, ms) => admin.freeze(login, ms),
    thaw: (login) => admin.thaw(login),
    kick: (login) => admin.kick(login),
    flush: (address) => admin.flush(address),
    homeOf: async (login) => backendOf(await admin.lookup(login, 'login')),
  };
}

/**
 * Each move made by a node gets a directory of its own (no cached route: the move reads the
 * home as the directory has it now), the running config, and the node's admin operations.
 */
export function nodeMoveContext(
  config: () => Config,
  admin: AdminNode,
  log: Logger,
): MoveContextFactory {
  return async () => {
    const running = config();
    const directory = await buildDirectory(running, log);
    return {
      context: {
        config: running,
        directory,
        catalog: buildCatalog(running),
        pool: nodePool(admin),
        bind: writeBind(running, {}),
        timeouts: {
          connectMs: running.limits.backend_connect_timeout,
          socketMs: Math.max(60_000, running.limits.backend_data_timeout),
        },
      },
      close: () => directory.close(),
    };
  };
}
