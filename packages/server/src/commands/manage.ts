import { loadConfig } from '../config/load.js';
import { adminRequest } from './admin-client.js';
import { reportError } from './errors.js';

/** `homing kick`: closes every session of a user on the running node. */
export async function kick(user: string, configPath: string): Promise<number> {
  try {
    const { config } = loadConfig(configPath);
    const { kicked } = (await adminRequest(config, 'POST', '/sessions/kick', { user })) as {
      kicked: number;
    };
    process.stdout.write(`${user}: ${kicked} session(s) closed\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/** `homing flush`: forgets one address, or everything, in the running node's directory cache. */
export async function flush(address: string | undefined, configPath: string): Promise<number> {
  try {
    const { config } = loadConfig(configPath);
    await adminRequest(
      config,
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
  configPath: string,
): Promise<number> {
  try {
    const { config } = loadConfig(configPath);
    const query = new URLSearchParams();
    if (filter.user) query.set('user', filter.user);
    if (filter.backend) query.set('backend', filter.backend);
    const { sessions: list } = (await adminRequest(config, 'GET', `/sessions?${query}`)) as {
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
