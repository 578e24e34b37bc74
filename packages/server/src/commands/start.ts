import type { Server } from 'node:http';
import { splitListen, startAdmin } from '../admin.js';
import { buildDirectory } from '../build-directory.js';
import { loadConfig } from '../config/load.js';
import { startListeners } from '../listeners.js';
import { createLogger } from '../logger.js';
import { reportError } from './errors.js';

/** Runs a homing node until SIGTERM or SIGINT. */
export async function start(path: string): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(path);
  } catch (error) {
    return reportError(error);
  }
  const { config } = loaded;
  const log = createLogger(config);
  try {
    const directory = await buildDirectory(config, log);
    const listeners = await startListeners(config, directory, log);
    let admin: Server | undefined;
    if (config.admin) {
      const { host, port } = splitListen(config.admin.listen);
      admin = await startAdmin({ host, port, token: config.admin.token, directory, log });
      log.info({ listen: config.admin.listen }, 'admin API listening');
    }
    log.info(
      { config: path, directory: config.directory.source, backends: Object.keys(config.backends) },
      'homing ready',
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    log.info({ signal }, 'stopping');
    const closing = listeners.close();
    listeners.registry.kickAll('shutdown');
    await closing;
    await new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve()));
    await directory.close();
    return 0;
  } catch (error) {
    log.fatal({ err: error }, 'homing could not start');
    return 1;
  }
}
