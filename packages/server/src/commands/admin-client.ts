import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { splitListen } from '../admin.js';
import { substituteEnv } from '../config/env.js';

/** Where a running node's admin API is, and its token. */
export interface AdminTarget {
  readonly listen: string;
  readonly token: string;
}

export interface AdminFlags {
  /** The config file: only its admin section is read. */
  readonly config: string;
  /** host:port, instead of the config's admin.listen. */
  readonly admin?: string | undefined;
}

/**
 * The admin address from --admin (or HOMING_ADMIN) and the token from HOMING_ADMIN_TOKEN; what is
 * missing comes from the admin section of the config file. Nothing else of the file is read, so
 * the other secrets it names need not be set.
 */
export function adminTarget(flags: AdminFlags, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  let listen = flags.admin ?? env.HOMING_ADMIN;
  let token = env.HOMING_ADMIN_TOKEN;
  if (listen === undefined || token === undefined) {
    const section = adminSection(flags.config);
    listen ??= section.listen === undefined ? '127.0.0.1:9925' : substituteEnv(section.listen, env);
    if (token === undefined && section.token !== undefined)
      token = substituteEnv(section.token, env);
  }
  if (token === undefined)
    throw new Error(`no admin token: set HOMING_ADMIN_TOKEN or admin.token in ${flags.config}`);
  return { listen, token };
}

function adminSection(path: string): { listen?: string; token?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error}): give --admin and HOMING_ADMIN_TOKEN, or the config with -c`,
    );
  }
  const admin = (parse(text) as { admin?: unknown } | null)?.admin;
  if (!admin || typeof admin !== 'object')
    throw new Error(`${path} has no admin section: the node serves no admin API`);
  const { listen, token } = admin as Record<string, unknown>;
  return {
    ...(typeof listen === 'string' ? { listen } : {}),
    ...(typeof token === 'string' ? { token } : {}),
  };
}

/** Calls the running node's admin API, with its token; throws with the node's own error text. */
export async function adminRequest(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { host, port } = splitListen(target.listen);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS),
  }).catch((error: unknown) => {
    throw new Error(`no node answers at ${target.listen}: ${(error as Error).cause ?? error}`);
  });
  const parsed = (await response.json()) as { error?: string };
  if (!response.ok) throw new Error(`node at ${target.listen}: ${parsed.error ?? response.status}`);
  return parsed;
}

/** A reload waits for every worker to apply the config. */
const ADMIN_REQUEST_TIMEOUT_MS = 40_000;
