import type { Server } from 'node:http';
import type { Directory } from '@homing/directory';
import type { Logger } from 'pino';
import { splitListen, startAdmin } from './admin.js';
import { buildCatalog, buildDirectory } from './build-directory.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { ListenerSet } from './listeners.js';
import { localAdmin } from './local-admin.js';
import { Metrics } from './metrics.js';

/** How long an old directory stays open after a reload replaced it (lookups in flight). */
const RETIRE_DIRECTORY_MS = 30_000;

/** One homing node: directory, listeners, admin API; reloadable and drainable. */
export class HomingNode {
  readonly metrics: Metrics;
  readonly listeners: ListenerSet;
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
    });
    this.listeners = new ListenerSet(config, () => this.#directory, this.metrics, log);
  }

  static async start(
    path: string,
    config: Config,
    log: Logger,
    options: { admin: boolean } = { admin: true },
  ): Promise<HomingNode> {
    const directory = await buildDirectory(config, log);
    const node = new HomingNode(path, config, directory, log);
    await node.listeners.apply(config);
    node.#listening = true;
    if (options.admin && config.admin) {
      const { host, port } = splitListen(config.admin.listen);
      node.#admin = await startAdmin({
        host,
        port,
        token: config.admin.token,
        node: node.admin,
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
      metrics: () => this.metrics.registry.metrics(),
      listening: () => this.#listening,
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
   * touched. A config that does not validate is logged and the running one stays.
   */
  async reload(): Promise<boolean> {
    let next: Config;
    try {
      next = loadConfig(this.path).config;
    } catch (error) {
      this.log.error(
        { err: error instanceof Error ? error.message : error },
        'reload refused: the config does not validate',
      );
      return false;
    }
    const directoryChanged =
      JSON.stringify(next.directory) !== JSON.stringify(this.#config.directory);
    if (directoryChanged) {
      const old = this.#directory;
      this.#directory = await buildDirectory(next, this.log);
      setTimeout(() => void old.close(), RETIRE_DIRECTORY_MS).unref();
    } else {
      this.#directory.setCatalog(buildCatalog(next));
    }
    // A backend whose entry changed starts with a clean slate: its old failures were elsewhere.
    for (const [name, backend] of Object.entries(next.backends)) {
      if (JSON.stringify(backend) === JSON.stringify(this.#config.backends[name])) continue;
      for (const protocol of ['imap', 'pop3', 'smtp', 'lmtp', 'submission']) {
        this.listeners.health.success(`${name}/${protocol}`);
      }
    }
    this.log.level = next.log.level;
    if (JSON.stringify(next.admin) !== JSON.stringify(this.#config.admin)) {
      this.log.warn('admin API changes apply at the next restart');
    }
    this.#config = next;
    await this.listeners.apply(next);
    this.log.info(
      { directory_rebuilt: directoryChanged, listeners: this.listeners.size },
      'config reloaded',
    );
    return true;
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
    await this.#directory.close();
  }
}
