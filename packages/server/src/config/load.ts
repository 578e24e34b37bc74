import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseYaml, YamlSchemaError } from '@homing/directory';
import { substituteEnv } from './env.js';
import { type Config, configSchema } from './schema.js';

export interface LoadedConfig {
  readonly config: Config;
  readonly path: string;
  /** The file as read, for line numbers of problems found after the schema. */
  readonly text: string;
}

/**
 * Reads, substitutes `${ENV}` and validates a config file. Throws YamlSchemaError whose
 * message has one line per problem: `FILE:LINE: key.path: what is wrong`.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new YamlSchemaError(path, [
      { key: '', line: undefined, message: `cannot read: ${reason}` },
    ]);
  }
  const config = parseYaml(text, configSchema, path, (value) => substituteEnv(value, env));
  return { config: resolvePaths(config, dirname(resolve(path))), path, text };
}

/** File names in the config are relative to the config file, not to the working directory. */
function resolvePaths(config: Config, base: string): Config {
  const at = (file: string | undefined) =>
    file === undefined || isAbsolute(file) ? file : resolve(base, file);
  const { directory } = config;
  return {
    ...config,
    tls: config.tls && {
      ...config.tls,
      certificates: config.tls.certificates.map((c) => ({
        ...c,
        cert: at(c.cert) as string,
        key: at(c.key) as string,
      })),
      session_ticket_keys: at(config.tls.session_ticket_keys),
    },
    smtp: {
      ...config.smtp,
      smarthost: config.smtp.smarthost && {
        ...config.smtp.smarthost,
        ca_file: at(config.smtp.smarthost.ca_file),
      },
    },
    move: { ...config.move, state_dir: at(config.move.state_dir) as string },
    directory: {
      ...directory,
      file: directory.file && { ...directory.file, path: at(directory.file.path) as string },
      ldap: directory.ldap && {
        ...directory.ldap,
        tls: { ...directory.ldap.tls, ca_file: at(directory.ldap.tls.ca_file) },
      },
      sql: directory.sql && {
        ...directory.sql,
        tls: { ...directory.sql.tls, ca_file: at(directory.sql.tls.ca_file) },
      },
    },
    backends: Object.fromEntries(
      Object.entries(config.backends).map(([name, b]) => [
        name,
        { ...b, tls: { ...b.tls, ca_file: at(b.tls.ca_file) } },
      ]),
    ),
  };
}
