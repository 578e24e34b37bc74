import cluster from 'node:cluster';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { HomingNode } from '../node.js';
import { applyPriority } from '../priority.js';
import { runningConfig, runPrimary, runWorker, workerCount } from '../workers.js';
import { reportError } from './errors.js';

/** Runs a homing node until SIGTERM or SIGINT (drain, then exit 0); SIGHUP reloads. */
export async function start(path: string): Promise<number> {
  let config: Config;
  try {
    config = (cluster.isWorker && runningConfig()) || loadConfig(path).config;
  } catch (error) {
    return reportError(error);
  }
  const log = createLogger(config);
  // Before the workers fork and the relay's thread starts: they take it from this thread.
  const priority = config.process_priority;
  if (priority !== undefined && cluster.isPrimary) {
    const refused = applyPriority(priority);
    if (refused) {
      log.warn(
        { process_priority: priority, reason: refused },
        'process_priority not applied (a value below the one homing started with needs CAP_SYS_NICE; systemd: Nice= in the unit): running at the priority it started with',
      );
    } else log.info({ process_priority: priority }, 'process priority set');
  }
  if (workerCount(config) > 1 && cluster.isPrimary) return runPrimary(path, config, log);
  if (cluster.isWorker) {
    await runWorker(path, config, log.child({ worker: process.pid }));
    return new Promise(() => {}); // runs until the primary says drain
  }
  let node: HomingNode;
  try {
    node = await HomingNode.start(path, config, log);
  } catch (error) {
    log.fatal({ err: error }, 'homing could not start');
    return 1;
  }
  log.info(
    { config: path, directory: config.directory.source, backends: Object.keys(config.backends) },
    'homing ready',
  );
  let reloading = Promise.resolve(true);
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the config');
    // reload() does not reject; the catch keeps a bug there from ending the process anyway.
    reloading = reloading
      .then(() => node.reload())
      .catch((error: unknown) => {
        log.error({ err: error }, 'reload failed');
        return false;
      });
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal, drain_timeout_ms: config.drain_timeout }, 'stopping: draining sessions');
  await node.drain(node.config.drain_timeout);
  log.info('stopped');
  return 0;
}
