import { type AdminFlags, adminRequest, adminTarget } from './admin-client.js';
import { reportError } from './errors.js';

/** `homing kick`: closes every session of a user on the running node. */
export async function kick(user: string, flags: AdminFlags): Promise<number> {
  try {
    const { kicked } = (await adminRequest(adminTarget(flags), 'POST', '/sessions/kick', {
      user,
    })) as { kicked: number };
    process.stdout.write(`${user}: ${kicked} session(s) closed\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/** `homing flush`: forgets one address, or everything, in the running node's directory cache. */
export async function flush(address: string | undefined, flags: AdminFlags): Promise<number> {
  try {
    await adminRequest(
      adminTarget(flags),
      'POST',
      '/directory/flush',
      address === undefined ? {} : { address },
    );
    process.stdout.write(`flushed ${address ?? 'the whole directory cache'}\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/** `homing sessions`: the running node's live sessions. */
export async function sessions(
  filter: { user?: string; backend?: string; json: boolean },
  flags: AdminFlags,
): Promise<number> {
  try {
    const query = new URLSearchParams();
    if (filter.user) query.set('user', filter.user);
    if (filter.backend) query.set('backend', filter.backend);
    const { sessions: list } = (await adminRequest(
      adminTarget(flags),
      'GET',
      `/sessions?${query}`,
    )) as {
      sessions: {
        id: string;
        protocol: string;
        user: string | null;
        client: string;
        backend: string | null;
        since: string;
      }[];
    };
    if (filter.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    for (const s of list) {
      process.stdout.write(
        `${s.id}  ${s.protocol.padEnd(10)} ${(s.user ?? '-').padEnd(30)} ${s.client.padEnd(16)} ${(s.backend ?? '-').padEnd(12)} ${s.since}\n`,
      );
    }
    process.stdout.write(`${list.length} session(s)\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

interface BackendsView {
  backends: {
    probes: {
      /** The health key, `name/protocol`, as the node keeps it. */
      key: string;
      available: boolean;
      latencyMs?: number;
      lastError?: string;
    }[];
    passive: { key: string; up: boolean }[];
    pools: { name: string; members: string[] }[];
  };
}

/** `homing backends`: probe results, passive health and pools as the running node sees them. */
export async function backends(json: boolean, flags: AdminFlags): Promise<number> {
  try {
    const view = (await adminRequest(adminTarget(flags), 'GET', '/backends')) as BackendsView;
    if (json) {
      process.stdout.write(`${JSON.stringify(view.backends, null, 2)}\n`);
      return 0;
    }
    const { probes, passive, pools } = view.backends;
    for (const p of probes) {
      const latency = p.latencyMs === undefined ? '-' : `${Math.round(p.latencyMs)}ms`;
      process.stdout.write(
        `${p.key.padEnd(28)} ${(p.available ? 'up' : 'down').padEnd(5)} ${latency.padEnd(8)} ${p.lastError ?? ''}\n`.trimEnd() +
          '\n',
      );
    }
    for (const b of passive.filter((b) => !b.up))
      process.stdout.write(`${b.key.padEnd(28)} backing off after failures\n`);
    for (const pool of pools)
      process.stdout.write(`pool ${pool.name}: ${pool.members.join(', ')}\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/** `homing reload`: the running node reads its config again (as on SIGHUP) and says if it took. */
export async function reload(flags: AdminFlags): Promise<number> {
  try {
    await adminRequest(adminTarget(flags), 'POST', '/reload');
    process.stdout.write('config reloaded\n');
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
