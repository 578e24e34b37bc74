import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { AddressKind } from '@homing/directory';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { type AdminNode, type SessionView, splitListen, startAdmin } from './admin.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { MoveJobs } from './move/jobs.js';
import { nodeMoveContext } from './move/node-context.js';
import { HomingNode } from './node.js';
import { askWorkers, listenToWorkers, serveWorker } from './pool-ipc.js';
import { checkFree, checkPortsFree } from './reuse-port.js';
import { WorkerBalancer, type WorkerLoad } from './worker-balance.js';

export function workerCount(config: Config): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/**
 * The primary of a worker pool: forks the workers (they accept connections themselves), replaces
 * one that crashed, serves the admin API by asking them all, and passes on reload and drain.
 */
export async function runPrimary(path: string, config: Config, log: Logger): Promise<number> {
  const count = workerCount(config);
  let stopping = false;
  const restarts: number[] = [];
  listenToWorkers();
  // Node's default on Linux has the primary accept every connection and pass it to a worker:
  // one process in the path of every login, and no faster than one worker. With SCHED_NONE the
  // workers accept on the socket the primary shares with them (Node 20, or a port 0); on Node
  // 22.12+ they bind sockets of their own with SO_REUSEPORT (see reuse-port.ts).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  await checkPortsFree(config.listeners.map((l) => splitListen(l.listen)));
  // A worker forked later (to replace one that died) starts on the config the pool runs, not
  // on a file on disk that a reload may have refused.
  let current = config;
  const fork = () =>
    cluster.fork({ HOMING_WORKER: '1', [RUNNING_CONFIG]: JSON.stringify(current) });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ worker: worker.process.pid, code, signal }, 'worker died: starting a new one');
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && (restarts[0] as number) < now - 60_000) restarts.shift();
    // A worker that dies at once, again and again, should not spin the CPU: slow down.
    setTimeout(fork, restarts.length > 5 ? 5000 : 200);
  });
  const balancer = new WorkerBalancer(() => current.worker_balance, askWorkers, log);
  const ready = new Promise<void>((resolve) => {
    let online = 0;
    cluster.on('message', (_worker, message: { type?: string }) => {
      if (message?.type === 'homing:ready' && ++online === count) resolve();
    });
  });
  for (let i = 0; i < count; i += 1) fork();
  await ready;
  balancer.start();

  const aggregator = new AggregatorRegistry();
  const admin: AdminNode = {
    metrics: () => aggregator.clusterMetrics(),
    async ready() {
      const states = (await askWorkers('ready')) as {
        ready: boolean;
        reason?: string;
        directory?: string;
      }[];
      const bad = states.find((s) => !s.ready);
      if (states.length === 0 || bad) return { ready: false, reason: bad?.reason ?? 'no workers' };
      // "reachable" when any worker had to ask the source: the cache is not warm everywhere.
      const directory = states.some((s) => s.directory === 'reachable')
        ? 'reachable'
        : 'cache warm';
      return { ready: true, directory };
    },
    async sessions(filter) {
      return ((await askWorkers('sessions', [filter])) as SessionView[][]).flat();
    },
    async kick(user) {
      return ((await askWorkers('kick', [user])) as number[]).reduce((a, b) => a + b, 0);
    },
    async flush(address) {
      await askWorkers('flush', [address]);
    },
    async freeze(user, ms) {
      // Every worker: each holds its own freezes when the pool has no Redis.
      const granted = (await askWorkers('freeze', [user, ms])) as number[];
      if (granted.length === 0) throw new Error('no worker answered');
      return Math.min(...granted);
    },
    async frozenFor(user) {
      return Math.max(0, ...((await askWorkers('frozen', [user])) as number[]));
    },
    async thaw(user) {
      await askWorkers('thaw', [user]);
    },
    async lookup(address: string, kind: AddressKind) {
      const [first] = await askWorkers('lookup', [address, kind]);
      if (first === undefined) throw new Error('no worker answered');
      return first;
    },
    async backends() {
      // Every worker probes the same backends: one answer tells the state.
      const [first] = await askWorkers('backends');
      return first ?? { probes: [], passive: [], pools: [] };
    },
    async reload() {
      const results = (await askWorkers('reload', [], 30_000)) as boolean[];
      return results.length > 0 && results.every(Boolean);
    },
  };
  let server: import('node:http').Server | undefined;
  if (config.admin) {
    const { host, port } = splitListen(config.admin.listen);
    server = await startAdmin({
      host,
      port,
      token: config.admin.token,
      publicMetrics: config.admin.public_metrics,
      node: admin,
      moves: new MoveJobs(
        nodeMoveContext(() => current, admin, log),
        log,
      ),
      log,
    });
    log.info({ listen: config.admin.listen }, 'admin API listening');
  }
  log.info({ config: path, workers: count, directory: config.directory.source }, 'homing ready');

  process.on('SIGHUP', () => {
    let next: Config;
    try {
      next = loadConfig(path).config;
    } catch (error) {
      log.error(
        { err: error instanceof Error ? error.message : error },
        'reload refused: the config does not validate',
      );
      return;
    }
    // New addresses are tried here first. Node's cluster (without SO_REUSEPORT) remembers a
    // bind that failed in the primary and gives that error to the next worker that asks, even
    // once the port is free: a worker forked later could then never bind it.
    const key = ({ host, port }: { host: string; port: number }) => `${host} ${port}`;
    const running = new Set(current.listeners.map((l) => key(splitListen(l.listen))));
    const added = next.listeners
      .map((l) => splitListen(l.listen))
      .filter((a) => !running.has(key(a)));
    void checkFree(added).then(
      () => reloadWorkers(next),
      (error: unknown) => {
        log.error(
          { err: error instanceof Error ? error.message : error },
          'reload refused: a new listener cannot bind; the running config stays',
        );
        void askWorkers('reload-refused');
      },
    );
  });
  const reloadWorkers = (next: Config) => {
    log.info('SIGHUP: reloading the workers');
    // Each worker prepares, switches or refuses on its own (and logs why); the pool's answer
    // is here in one line.
    void askWorkers('reload', [], 30_000).then((results) => {
      const refused = results.filter((ok) => ok !== true).length + (count - results.length);
      if (refused === 0) {
        current = next;
        log.info({ workers: results.length }, 'config reloaded by every worker');
      } else log.error({ refused, workers: count }, 'reload refused by some workers');
    });
  };
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  stopping = true;
  balancer.stop();
  log.info({ signal, drain_timeout_ms: config.drain_timeout }, 'stopping: draining sessions');
  await askWorkers('drain', [], config.drain_timeout + 10_000);
  for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
  server?.close();
  server?.closeAllConnections();
  log.info('stopped');
  return 0;
}

/** The environment variable that gives a new worker the config its pool runs. */
const RUNNING_CONFIG = 'HOMING_RUNNING_CONFIG';

/** In a worker: the config its primary runs, when the primary gave one. */
export function runningConfig(env: NodeJS.ProcessEnv = process.env): Config | undefined {
  const text = env[RUNNING_CONFIG];
  // Not for the worker's children, nor for its own log of the environment.
  delete env[RUNNING_CONFIG];
  return text === undefined ? undefined : (JSON.parse(text) as Config);
}

/** One worker: a HomingNode without an admin API, driven by the primary. */
export async function runWorker(path: string, config: Config, log: Logger): Promise<void> {
  const node = await HomingNode.start(path, config, log, { admin: false });
  AggregatorRegistry.setRegistries([node.metrics.registry]);
  // Constructing one installs prom-client's answer to the primary's metrics requests.
  new AggregatorRegistry();
  // The primary decides when to stop; a Ctrl-C reaches the whole process group.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const admin = node.admin;
  let loop = performance.eventLoopUtilization();
  // What the primary's balancer weighs (worker-balance.ts): since it last asked.
  const load = (): WorkerLoad => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, loop).utilization;
    loop = now;
    const { listeners } = node;
    return {
      busy,
      sessions: listeners.admission.open,
      // Over IPC (JSON) Infinity would arrive as null: say "no bound" as that.
      capacity: Number.isFinite(listeners.admission.capacity) ? listeners.admission.capacity : null,
      steerable: listeners.steerable,
      filling: listeners.filling,
    };
  };
  serveWorker(async (op, args) => {
    switch (op) {
      case 'metrics':
        return admin.metrics();
      case 'ready':
        return admin.ready();
      case 'sessions':
        return admin.sessions(args[0] as { user?: string; backend?: string });
      case 'kick':
        return admin.kick(args[0] as string);
      case 'flush':
        return admin.flush(args[0] as string | undefined);
      case 'freeze':
        return admin.freeze(args[0] as string, args[1] as number | undefined);
      case 'frozen':
        return admin.frozenFor(args[0] as string);
      case 'thaw':
        return admin.thaw(args[0] as string);
      case 'lookup':
        return admin.lookup(args[0] as string, args[1] as AddressKind);
      case 'backends':
        return admin.backends();
      case 'reload':
        return node.reload();
      case 'reload-refused':
        node.reloads.record('refused');
        return false;
      case 'load':
        return load();
      case 'steer':
        return node.listeners.steer(args[0] === true);
      case 'drain':
        await node.drain(node.config.drain_timeout);
        setImmediate(() => process.exit(0));
        return true;
    }
  });
  // Without its primary a worker has no one to answer to: drain and go.
  process.on('disconnect', () => {
    void node.drain(node.config.drain_timeout).then(() => process.exit(0));
  });
  process.send?.({ type: 'homing:ready' });
}
