import type { AddressKind, Directory } from '@homing/directory';
import type { BackendHealth, SessionRegistry } from '@homing/proxy-core';
import type { AdminNode, SessionView } from './admin.js';
import { describeLookup } from './describe-route.js';

export interface LocalParts {
  readonly directory: () => Directory;
  readonly registry: SessionRegistry;
  readonly health: BackendHealth;
  readonly metrics: () => Promise<string>;
  readonly listening: () => boolean;
}

/** The admin operations of one process, answered from its own state. */
export function localAdmin(parts: LocalParts): AdminNode {
  return {
    metrics: parts.metrics,
    async ready() {
      if (!parts.listening()) return { ready: false, reason: 'listeners are not up' };
      const directory = parts.directory();
      if (directory.cacheSize > 0) return { ready: true, directory: 'cache warm' };
      try {
        // A lookup that goes to the source: is LDAP (or the file) answering right now?
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
        }),
      );
    },
    async kick(user) {
      return parts.registry.kick(user, 'kicked');
    },
    async flush(address) {
      const directory = parts.directory();
      if (address === undefined) return directory.clear();
      directory.invalidate(address, 'login');
      directory.invalidate(address, 'recipient');
    },
    async lookup(address: string, kind: AddressKind) {
      return describeLookup(address, await parts.directory().lookup(address, { kind }));
    },
    async backends() {
      return parts.health.snapshot();
    },
  };
}
