import type { AddressKind } from '@homing/directory';
import { pino } from 'pino';
import { buildDirectory } from '../build-directory.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { describeLookup, formatLookup, type LookupDescription } from '../describe-route.js';
import { type AdminFlags, adminRequest, adminTarget } from './admin-client.js';
import { reportError } from './errors.js';

export interface LookupFlags {
  readonly config: string;
  readonly kind: AddressKind;
  readonly json: boolean;
  readonly node: boolean;
  readonly admin?: string | undefined;
}

/** Exit codes: 0 found, 2 no such user, 1 the question could not be answered. */
export async function lookup(address: string, flags: LookupFlags): Promise<number> {
  try {
    const described = flags.node
      ? await askNode(flags, address, flags.kind)
      : await askDirectory(loadConfig(flags.config).config, address, flags.kind);
    process.stdout.write(
      flags.json ? `${JSON.stringify(described, null, 2)}\n` : formatLookup(described),
    );
    return described.found ? 0 : 2;
  } catch (error) {
    return reportError(error);
  }
}

async function askDirectory(config: Config, address: string, kind: AddressKind) {
  const directory = await buildDirectory(config, pino({ level: 'error' }));
  try {
    return describeLookup(address, await directory.lookup(address, { kind }));
  } finally {
    await directory.close();
  }
}

/** Asks a running node, so the answer shows that node's cache (and stale entries). */
async function askNode(
  flags: AdminFlags,
  address: string,
  kind: AddressKind,
): Promise<LookupDescription> {
  const query = new URLSearchParams({ address, kind });
  return (await adminRequest(
    adminTarget(flags),
    'GET',
    `/directory/lookup?${query}`,
  )) as LookupDescription;
}
