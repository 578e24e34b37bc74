import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressKind } from '@homing/directory';
import type { Logger } from 'pino';
import { MoveBusy, type MoveJobs } from './move/jobs.js';

/** A session as the admin API shows it. */
export interface SessionView {
  readonly id: string;
  readonly protocol: string;
  readonly user: string | null;
  readonly client: string;
  readonly backend: string | null;
  readonly since: string;
  readonly bytes?: { up: number; down: number };
  /** A spliced session's relay: `kernel` (splice(2)) or `node`. */
  readonly relay?: 'kernel' | 'node';
}

/**
 * What the admin API asks of the node: one process answers itself, the primary of a worker
 * pool asks its workers and adds their answers up.
 */
export interface AdminNode {
  metrics(): Promise<string>;
  ready(): Promise<{ ready: boolean; reason?: string; directory?: string }>;
  sessions(filter: {
    user?: string | undefined;
    backend?: string | undefined;
  }): Promise<SessionView[]>;
  kick(user: string): Promise<number>;
  flush(address: string | undefined): Promise<void>;
  /** Freezes a user (the directory's login) for `ms`, capped by move.freeze_max; returns the ms. */
  freeze(user: string, ms: number | undefined): Promise<number>;
  /** Milliseconds the user stays frozen; 0 when not. */
  frozenFor(user: string): Promise<number>;
  thaw(user: string): Promise<void>;
  lookup(address: string, kind: AddressKind): Promise<unknown>;
  backends(): Promise<unknown>;
  /** Reads the config again and applies it, as SIGHUP does; false when it was refused. */
  reload(): Promise<boolean>;
}

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** /metrics without the token (admin.public_metrics). */
  readonly publicMetrics?: boolean;
  readonly node: AdminNode;
  /** Moves run by this node (POST /moves/start); absent: the routes answer 404. */
  readonly moves?: MoveJobs | undefined;
  readonly log: Logger;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly type?: string;
}

type RouteHandler = (url: URL, body: Record<string, unknown>) => Promise<Reply>;

interface Route {
  readonly method: 'GET' | 'POST';
  /** Answered without the token: balancers and orchestrators probe these. Every other route
   * needs it even from loopback, which other users of the host or containers of a pod share. */
  readonly open?: boolean;
  readonly handle: RouteHandler;
}

const MAX_BODY = 64 * 1024;

/** The admin HTTP API: health for balancers, metrics, sessions, cache and backends. */
export async function startAdmin(options: AdminOptions): Promise<Server> {
  const { node } = options;
  const routes: Record<string, Route> = {
    '/healthz': {
      method: 'GET',
      open: true,
      handle: async () => ({ status: 200, body: { ok: true } }),
    },
    '/readyz': {
      method: 'GET',
      open: true,
      handle: async () => {
        const state = await node.ready();
        return { status: state.ready ? 200 : 503, body: state };
      },
    },
    '/metrics': {
      method: 'GET',
      open: options.publicMetrics === true,
      handle: async () => ({
        status: 200,
        body: await node.metrics(),
        type: 'text/plain; version=0.0.4',
      }),
    },
    '/sessions': {
      method: 'GET',
      handle: async (url) => {
        const user = url.searchParams.get('user') ?? undefined;
        const backend = url.searchParams.get('backend') ?? undefined;
        return { status: 200, body: { sessions: await node.sessions({ user, backend }) } };
      },
    },
    '/sessions/kick': {
      method: 'POST',
      handle: async (_url, body) => {
        if (typeof body.user !== 'string' || body.user === '') {
          return { status: 400, body: { error: 'user is required' } };
        }
        return { status: 200, body: { kicked: await node.kick(body.user) } };
      },
    },
    '/directory/flush': {
      method: 'POST',
      handle: async (_url, body) => {
        const address =
          typeof body.address === 'string' && body.address !== '' ? body.address : undefined;
        await node.flush(address);
        return { status: 200, body: { flushed: address ?? 'all' } };
      },
    },
    '/users/freeze': {
      method: 'POST',
      handle: async (_url, body) => {
        const user = requiredUser(body);
        const ms = body.ms === undefined ? undefined : Number(body.ms);
        if (ms !== undefined && !(Number.isFinite(ms) && ms > 0))
          throw new BadRequest('ms must be a positive number');
        return { status: 200, body: { user, frozen_ms: await node.freeze(user, ms) } };
      },
    },
    '/users/thaw': {
      method: 'POST',
      handle: async (_url, body) => {
        const user = requiredUser(body);
        await node.thaw(user);
        return { status: 200, body: { user, frozen_ms: 0 } };
      },
    },
    '/users/frozen': {
      method: 'GET',
      handle: async (url) => {
        const user = url.searchParams.get('user');
        if (!user) return { status: 400, body: { error: 'user is required' } };
        return { status: 200, body: { user, frozen_ms: await node.frozenFor(user) } };
      },
    },
    '/moves/start': {
      method: 'POST',
      handle: async (_url, body) => {
        if (!options.moves) return { status: 404, body: { error: 'moves are not available' } };
        const flag = (name: string) => body[name] === true;
        const to = typeof body.to === 'string' && body.to !== '' ? body.to : undefined;
        try {
          const job = options.moves.start({
            user: requiredUser(body),
            to,
            dryRun: flag('dry_run'),
            resume: flag('resume'),
            abort: flag('abort'),
            deleteSource: flag('delete_source'),
            replaceTarget: flag('replace_target'),
          });
          return { status: 202, body: { move: job } };
        } catch (error) {
          if (error instanceof MoveBusy) return { status: 409, body: { error: error.message } };
          throw error;
        }
      },
    },
    '/moves': {
      method: 'GET',
      handle: async (url) => {
        if (!options.moves) return { status: 404, body: { error: 'moves are not available' } };
        const user = url.searchParams.get('user');
        if (user === null) return { status: 200, body: { moves: options.moves.list() } };
        const job = options.moves.get(user);
        return job
          ? { status: 200, body: { move: job } }
          : { status: 404, body: { error: `no move of ${user} here` } };
      },
    },
    '/directory/lookup': {
      method: 'GET',
      handle: async (url) => {
        const address = url.searchParams.get('address');
        if (!address) return { status: 400, body: { error: 'address is required' } };
        const kind: AddressKind =
          url.searchParams.get('kind') === 'recipient' ? 'recipient' : 'login';
        return { status: 200, body: await node.lookup(address, kind) };
      },
    },
    '/backends': {
      method: 'GET',
      handle: async () => ({ status: 200, body: { backends: await node.backends() } }),
    },
    '/reload': {
      method: 'POST',
      handle: async () => {
        const reloaded = await node.reload();
        return reloaded
          ? { status: 200, body: { reloaded } }
          : { status: 409, body: { reloaded, error: 'reload refused: see the node log' } };
      },
    },
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = routes[url.pathname];
    if (!route) return send(res, { status: 404, body: { error: 'not found' } });
    if (req.method !== route.method)
      return send(res, { status: 405, body: { error: `use ${route.method}` } });
    if (!route.open && !authorized(req, options.token)) {
      return send(res, { status: 401, body: { error: 'bearer token required' } });
    }
    readBody(req)
      .then((body) => route.handle(url, body))
      .then(
        (reply) => send(res, reply),
        (error: unknown) => {
          options.log.warn({ err: error, path: url.pathname }, 'admin request failed');
          const status = error instanceof BadRequest ? 400 : 503;
          send(res, {
            status,
            body: { error: error instanceof Error ? error.message : String(error) },
          });
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}

class BadRequest extends Error {}

function requiredUser(body: Record<string, unknown>): string {
  if (typeof body.user !== 'string' || body.user === '') throw new BadRequest('user is required');
  return body.user;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (req.method !== 'POST') return {};
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest('body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BadRequest('body must be a JSON object');
}

/** Compares digests, so that neither the token's bytes nor its length show in the timing. */
function authorized(req: IncomingMessage, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(req.headers.authorization ?? ''), digest(`Bearer ${token}`));
}

function send(res: ServerResponse, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : `${JSON.stringify(reply.body)}\n`;
  res.writeHead(reply.status, { 'content-type': reply.type ?? 'application/json' });
  res.end(text);
}

/** Splits `host:port` / `[v6]:port` as written in `admin.listen`. */
export function splitListen(listen: string): { host: string; port: number } {
  const cut = listen.lastIndexOf(':');
  const host = listen.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(cut + 1)) };
}
