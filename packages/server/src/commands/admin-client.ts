import { splitListen } from '../admin.js';
import type { Config } from '../config/schema.js';

/** Calls the running node's admin API, with its token; throws with the node's own error text. */
export async function adminRequest(
  config: Config,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  if (!config.admin)
    throw new Error(
      'this needs an admin section in the config (the admin API of the running node)',
    );
  const { host, port } = splitListen(config.admin.listen);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.admin.token) headers.authorization = `Bearer ${config.admin.token}`;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  }).catch((error: unknown) => {
    throw new Error(
      `no node answers at ${config.admin?.listen}: ${(error as Error).cause ?? error}`,
    );
  });
  const parsed = (await response.json()) as { error?: string };
  if (!response.ok)
    throw new Error(`node at ${config.admin.listen}: ${parsed.error ?? response.status}`);
  return parsed;
}
