import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressKind, Directory } from '@homing/directory';
import type { Logger } from 'pino';
import { describeLookup } from './describe-route.js';

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token?: string | undefined;
  readonly directory: Directory;
  readonly log: Logger;
}

type Handler = (url: URL, req: IncomingMessage) => Promise<{ status: number; body: unknown }>;

/** The admin HTTP API: health, and the directory as this node sees it (its cache included). */
export async function startAdmin(options: AdminOptions): Promise<Server> {
  const routes: Record<string, { method: string; open: boolean; handle: Handler }> = {
    '/healthz': {
      method: 'GET',
      open: true,
      handle: async () => ({ status: 200, body: { ok: true } }),
    },
    '/directory/lookup': {
      method: 'GET',
      open: false,
      handle: async (url) => {
        const address = url.searchParams.get('address');
        if (!address) return { status: 400, body: { error: 'address is required' } };
        const kind: AddressKind =
          url.searchParams.get('kind') === 'recipient' ? 'recipient' : 'login';
        const result = await options.directory.lookup(address, { kind });
        return { status: 200, body: describeLookup(address, result) };
      },
    },
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = routes[url.pathname];
    if (!route) return send(res, 404, { error: 'not found' });
    if (req.method !== route.method) return send(res, 405, { error: `use ${route.method}` });
    if (!route.open && !authorized(req, options.token)) {
      return send(res, 401, { error: 'bearer token required' });
    }
    route.handle(url, req).then(
      ({ status, body }) => send(res, status, body),
      (error: unknown) => {
        options.log.warn({ err: error, path: url.pathname }, 'admin request failed');
        send(res, 503, { error: error instanceof Error ? error.message : String(error) });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Splits `host:port` / `[v6]:port` as written in `admin.listen`. */
export function splitListen(listen: string): { host: string; port: number } {
  const cut = listen.lastIndexOf(':');
  const host = listen.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(cut + 1)) };
}
