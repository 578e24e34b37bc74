import type { Server } from 'node:http';
import { type Directory, type Protocol, protocols } from '@homing/directory';
import {
  type AbuseGuard,
  type AbuseStore,
  BackendProbes,
  healthKey,
  kernelRelayAvailable,
  useKernelRelay,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import { openAbuse } from './abuse.js';
import { splitListen, startAdmin } from './admin.js';
import { buildCatalog, buildDirectory } from './build-directory.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { type ListenerChange, ListenerSet } from './listeners.js';
import { localAdmin } from './local-admin.js';
import { Metrics } from './metrics.js';
import { MoveJobs } from './move/jobs.js';
import { nodeMoveContext } from './move/node-context.js';
import { ReloadMetrics } from './reload-metrics.js';

/** How long an old directory stays open after a reload replaced it (lookups in flight). */
const RETIRE_DIRECTORY_MS = 30_000;

/** Settings a reload takes but a running node cannot change, with how the warning names them. */
const restartOnly = [
  ['admin', 'admin API changes'],
  ['process_priority', 'process_priority changes'],
] as const satisfies readonly (readonly [keyof Config, string])[];

/** One homing node: directory, listeners, admin API; reloadable and drainable. */
export class HomingNode {
  readonly metrics: Metrics;
  readonly reloads: ReloadMetrics;
  readonly listeners: ListenerSet;
  #abuse: AbuseStore;
  readonly probes: BackendProbes;
  #config: Config;
  #directory: Directory;
  #admin: Server | undefined;
  #listening = false;

  private constructor(
    readonly path: string,
    config: Config,
    directory: Directory,
    readonly log: Logger,
  ) {
    this.#config = config;
    this.#directory = directory;
    this.metrics = new Metrics({
      registry: () => this.listeners.registry,
      health: () => this.listeners.health,
      directory: () => this.#directory,
      config: () => this.#config,
      connections: () => this.listeners.connections(),
      tlsHandshakeFailures: () => this.listeners.tlsHandshakeFailures,
      filling: () => this.listeners.filling === true,
      sharedState: () => ('up' in this.#abuse ? (this.#abuse as { up: boolean }) : undefined),
    });
    this.reloads = new ReloadMetrics(this.metrics.registry);
    this.listeners = new ListenerSet(config, () => this.#directory, this.metrics, log);
    this.metrics.capacity.watch(this.listeners.admission);
    this.#abuse = this.#openAbuse(config);
    this.probes = new BackendProbes({
      catalog: buildCatalog(config),
      health: this.listeners.health,
      intervalMs: Math.max(1000, config.backend_health.probe_interval),
      timeoutMs: config.backend_health.probe_timeout,
      protocols: probedProtocols(config),
      onLocalError: (key, code, err) => {
        this.metrics.localError(code, 'probe');
        log.error({ backend: key, code, err }, 'probe failed on this node: no verdict');
      },
      onChange: (state) =>
        state.up
          ? log.info({ backend: state.backend, protocol: state.protocol }, 'backend up')
          : log.warn(
              { backend: state.backend, protocol: state.protocol, err: state.lastError },
              'backend down',
            ),
    });
    this.listeners.probeStates = () => this.probes.snapshot();
    this.metrics.watch({ guard: this.listeners.guard as AbuseGuard, probes: this.probes });
  }

  get abuse(): AbuseStore {
    return this.#abuse;
  }

  /** The abuse guard and its store, wired to the listeners and to the pool's events. */
  #openAbuse(config: Config): AbuseStore {
    return this.#useAbuse(openAbuse(config, this.log));
  }

  #useAbuse({ guard, store }: { guard: AbuseGuard; store: AbuseStore }): AbuseStore {
    this.listeners.guard = guard;
    this.metrics.watch({ guard, probes: this.probes });
    // Kicks and cache flushes from any node of the pool (or this one) apply here.
    store.subscribe((event) => {
      if (event.type === 'kick') this.listeners.registry.kick(event.user, event.reason ?? 'kicked');
      else if (event.key === undefined) this.#directory.clear();
      else {
        this.#directory.invalidate(event.key, 'login');
        this.#directory.invalidate(event.key, 'recipient');
      }
    });
    return store;
  }

  static async start(
    path: string,
    config: Config,
    log: Logger,
    options: { admin: boolean } = { admin: true },
  ): Promise<HomingNode> {
    const directory = await buildDirectory(config, log);
    chooseRelay(config, log);
    const node = new HomingNode(path, config, directory, log);
    try {
      await node.listeners.apply(config);
    } catch (error) {
      node.listeners.stopAccepting();
      await Promise.allSettled([node.abuse.close(), directory.close(), node.listeners.close()]);
      throw error;
    }
    if (config.backend_health.probe_interval > 0) node.probes.start();
    node.#listening = true;
    if (options.admin && config.admin) {
      const { host, port } = splitListen(config.admin.listen);
      node.#admin = await startAdmin({
        host,
        port,
        token: config.admin.token,
        publicMetrics: config.admin.public_metrics,
        node: node.admin,
        moves: new MoveJobs(
          nodeMoveContext(() => node.config, node.admin, log),
          log,
        ),
        log,
      });
      log.info({ listen: config.admin.listen }, 'admin API listening');
    }
    return node;
  }

  /** The admin operations of this process (served here, or asked for by a pool's primary). */
  get admin() {
    return localAdmin({
      directory: () => this.#directory,
      registry: this.listeners.registry,
      health: this.listeners.health,
      probes: this.probes,
      pools: () => this.#config.pools,
      publish: (event) => this.#abuse.publish(event),
      metrics: () => this.metrics.registry.metrics(),
      listening: () => this.#listening,
      full: () => this.listeners.admission.full,
      reload: () => this.reload(),
      freezes: () => this.#abuse,
      freezeMax: () => this.#config.move.freeze_max,
    });
  }

  get config(): Config {
    return this.#config;
  }

  get directory(): Directory {
    return this.#directory;
  }

  /**
   * SIGHUP: re-read the config and certificates and apply them; spliced sessions are not
   * touched. Everything the new config needs is made first (certificates loaded and paired,
   * new listeners bound, directory and abuse store built); any failure undoes that, keeps the
   * running config and is logged and counted. Never rejects.
   */
  async reload(): Promise<boolean> {
    let next: Config;
    try {
      next = loadConfig(this.path).config;
    } catch (error) {
      return this.#refused('the config does not validate', error);
    }
    let prepared: Prepared;
    try {
      prepared = await this.#prepare(next);
    } catch (error) {
      return this.#refused('the new config cannot be applied', error);
    }
    try {
      await this.#commit(next, prepared);
    } catch (error) {
      // Only a listener's restart can fail here, and it logged which; the rest applied.
      this.log.error({ err: message(error) }, 'reload applied in part');
    }
    this.reloads.record('ok');
    this.log.info(
      { directory_rebuilt: prepared.directory !== undefined, listeners: this.listeners.size },
      'config reloaded',
    );
    return true;
  }

  #refused(why: string, error: unknown): false {
    this.reloads.record('refused');
    this.log.error({ err: message(error) }, `reload refused: ${why}; the running config stays`);
    return false;
  }

  async #prepare(next: Config): Promise<Prepared> {
    const made: Partial<Prepared> = {};
    try {
      made.catalog = buildCatalog(next);
      if (JSON.stringify(next.directory) !== JSON.stringify(this.#config.directory)) {
        made.directory = await buildDirectory(next, this.log);
      }
      if (JSON.stringify(next.abuse) !== JSON.stringify(this.#config.abuse)) {
        made.abuse = openAbuse(next, this.log);
      }
      made.listeners = await this.listeners.prepare(next);
      return made as Prepared;
    } catch (error) {
      made.listeners?.rollback();
      await Promise.allSettled([made.directory?.close(), made.abuse?.store.close()]);
      throw error;
    }
  }

  async #commit(next: Config, prepared: Prepared): Promise<void> {
    if (next.relay !== this.#config.relay) chooseRelay(next, this.log);
    if (prepared.directory) {
      const old = this.#directory;
      this.#directory = prepared.directory;
      setTimeout(() => void old.close(), RETIRE_DIRECTORY_MS).unref();
    } else {
      this.#directory.setCatalog(prepared.catalog);
    }
    this.probes.setCatalog(prepared.catalog);
    // A backend whose entry changed starts with a clean slate: its old failures were elsewhere.
    for (const [name, backend] of Object.entries(next.backends)) {
      if (JSON.stringify(backend) === JSON.stringify(this.#config.backends[name])) continue;
      for (const protocol of protocols) {
        this.listeners.health.success(healthKey(name, protocol));
      }
    }
    if (prepared.abuse) {
      // New limits from the next connection on; sessions keep the leases of the old store.
      const old = this.#abuse;
      this.#abuse = this.#useAbuse(prepared.abuse);
      setTimeout(() => void old.close(), RETIRE_DIRECTORY_MS).unref();
    }
    this.log.level = next.log.level;
    for (const [key, what] of restartOnly) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.#config[key])) {
        this.log.warn(`${what} apply at the next restart`);
      }
    }
    this.#config = next;
    await prepared.listeners.commit();
  }

  /**
   * SIGTERM: stop accepting, close sessions that have not logged in, let spliced sessions and
   * SMTP transactions finish for up to `timeoutMs`, then close what is left.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#listening = false;
    this.listeners.stopAccepting();
    this.listeners.registry.drain();
    const clean = await this.listeners.registry.idle(timeoutMs);
    if (!clean) {
      this.log.warn(
        { sessions: this.listeners.registry.size },
        'drain timeout: closing the sessions left',
      );
      this.listeners.registry.kickAll('drain timeout');
      await this.listeners.registry.idle(2000);
    }
    await new Promise<void>((resolve) =>
      this.#admin ? this.#admin.close(() => resolve()) : resolve(),
    );
    this.#admin?.closeAllConnections();
    await Promise.allSettled([this.#directory.close(), this.listeners.close()]);
  }
}

/** The `relay` setting, for sessions spliced from now on. */
function chooseRelay(config: Config, log: Logger): void {
  if (useKernelRelay(config.relay === 'kernel')) return;
  log.warn(
    { relay: config.relay, kernel_relay: kernelRelayAvailable().why },
    'relay: kernel is not available here; sessions are relayed through Node',
  );
}

/** What a reload has built before it switches: only the parts the new config changes. */
interface Prepared {
  catalog: ReturnType<typeof buildCatalog>;
  directory?: Directory;
  abuse?: ReturnType<typeof openAbuse>;
  listeners: ListenerChange;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The backend services this node's listeners use: only those are worth probing. */
function probedProtocols(config: Config): Protocol[] {
  const used = new Set<Protocol>();
  for (const l of config.listeners) {
    if (l.protocol === 'smtp' || l.protocol === 'lmtp') {
      used.add('lmtp');
      used.add('smtp');
    } else used.add(l.protocol);
  }
  return [...used];
}
