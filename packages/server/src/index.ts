export { program } from './cli.js';
export { type LoadedConfig, loadConfig } from './config/load.js';
export { type Config, configSchema } from './config/schema.js';
export { nodeHasReusePort } from './reuse-port.js';
