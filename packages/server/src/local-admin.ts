import { type AddressKind, type Directory, protocols } from '@homing/directory';
import {
  type AbuseStore,
  type BackendHealth,
  type BackendProbes,
  healthKey,
  type PoolEvent,
  type SessionRegistry,
  userKey,
} from '@homing/proxy-core';
import type { AdminNode, SessionView } from './admin.js';
import { describeLookup } from './describe-route.js';

export interface LocalParts {
  readonly directory: () => Directory;
  readonly registry: SessionRegistry;
  readonly health: BackendHealth;
  readonly probes: BackendProbes;
  readonly pools: () => Record<string, { members: string[] }>;
  /** Tells the whole pool (through Redis, or this node alone): kicks and flushes. */
  readonly publish: (event: PoolEvent) => Promise<void> | void;
  readonly metrics: () => Promise<string>;
  readonly listening: () => boolean;
  /** At its session capacity: a balancer should send new clients elsewhere. */
  readonly full?: () => boolean;
  readonly reload: () => Promise<boolean>;
  /** The store freezes live in: Redis when the pool shares state, else this process. */
  readonly freezes: () => Pick<AbuseStore, 'freeze' | 'frozenFor' | 'thaw'>;
  /** move.freeze_max: no freeze lasts longer, so a dead mover cannot lock a user out. */
  readonly freezeMax: () => number;
}

/** The admin operations of one process, answered from its own state. */
export function localAdmin(parts: LocalParts): AdminNode {
  return {
    metrics: parts.metrics,
    reload: parts.reload,
    async ready() {
      if (!parts.listening()) return { ready: false, reason: 'listeners are not up' };
      if (parts.full?.()) return { ready: false, reason: 'at session capacity' };
      const directory = parts.directory();
      if (directory.cacheSize > 0) return { ready: true, directory: 'cache warm' };
      try {
        // A lookup that goes to the source: is LDAP (or SQL, or the file) answering right now?
        await directory.source.find(
          {
            key: 'homing-readiness-probe@invalid',
            local: 'homing-readiness-probe',
            domain: 'invalid',
          },
          AbortSignal.timeout(2000),
        );
        return { ready: true, directory: 'reachable' };
      } catch (error) {
        return { ready: false, reason: `directory: ${String(error)}` };
      }
    },
    async sessions(filter) {
      return parts.registry.list(filter).map(
        (s): SessionView => ({
          id: s.id,
          protocol: s.protocol,
          user: s.user ?? null,
          client: s.client,
          backend: s.backend ?? null,
          since: s.since.toISOString(),
          ...(s.counts ? { bytes: s.counts() } : {}),
          ...(s.relay ? { relay: s.relay } : {}),
        }),
      );
    },
    async kick(user) {
      // Here at once (for the count), and on every other node of the pool through the store.
      const kicked = parts.registry.kick(user, 'kicked');
      await parts.publish({ type: 'kick', user });
      return kicked;
    },
    async flush(address) {
      await parts.publish(
        address === undefined ? { type: 'flush' } : { type: 'flush', key: address },
      );
    },
    async freeze(user, ms) {
      const max = parts.freezeMax();
      const granted = ms === undefined ? max : Math.min(ms, max);
      await parts.freezes().freeze(userKey(user), granted);
      return granted;
    },
    async frozenFor(user) {
      return parts.freezes().frozenFor(userKey(user));
    },
    async thaw(user) {
      await parts.freezes().thaw(userKey(user));
    },
    async lookup(address: string, kind: AddressKind) {
      // A pool member is picked among the healthy ones, as a login would.
      const isHealthy = (name: string) =>
        !protocols.some((p) => parts.health.isDown(healthKey(name, p)));
      return describeLookup(address, await parts.directory().lookup(address, { kind, isHealthy }));
    },
    async backends() {
      return {
        probes: parts.probes.snapshot(),
        passive: parts.health.snapshot(),
        pools: Object.entries(parts.pools()).map(([name, pool]) => ({
          name,
          members: pool.members,
        })),
      };
    },
  };
}
