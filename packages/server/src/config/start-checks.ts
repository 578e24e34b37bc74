import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseYaml, usersFileSchema, yamlLines } from '@homing/directory';
import type { Config } from './schema.js';

/** A problem the schema cannot see: found in the files the config names, or across sections. */
export interface Finding {
  readonly file: string;
  readonly key: string;
  readonly line: number | undefined;
  readonly message: string;
  readonly warning?: boolean;
}

/**
 * What `homing start` (or a reload) would fail on, or would do otherwise than the operator
 * meant, found without binding anything: certificates and CA files, the submission service
 * a listener needs, users' homes. `text` is the config file's text, for line numbers.
 */
export function startChecks(config: Config, path: string, text: string): Finding[] {
  const lineOf = yamlLines(text);
  const found: Finding[] = [];
  const add = (key: (string | number)[], message: string, warning = false) =>
    found.push({ file: path, key: key.join('.'), line: lineOf(key), message, warning });

  config.tls?.certificates.forEach((c, i) => {
    const problem = pairProblem(c.cert, c.key);
    if (problem) add(['tls', 'certificates', i], problem);
  });
  const caFiles: [(string | number)[], string | undefined][] = [
    [['directory', 'ldap', 'tls', 'ca_file'], config.directory.ldap?.tls.ca_file],
    [['smtp', 'smarthost', 'ca_file'], config.smtp.smarthost?.ca_file],
    ...Object.entries(config.backends).map(
      ([name, b]): [(string | number)[], string | undefined] => [
        ['backends', name, 'tls', 'ca_file'],
        b.tls.ca_file,
      ],
    ),
  ];
  for (const [key, file] of caFiles) {
    const problem = file === undefined ? undefined : caProblem(file);
    if (problem) add(key, problem);
  }
  const submission = Object.values(config.backends).some((b) => b.submission);
  config.listeners.forEach((l, i) => {
    if (l.protocol === 'submission' && l.submission_mode === 'home' && !submission) {
      add(
        ['listeners', i, 'submission_mode'],
        'home mode needs a backend with a submission service: every AUTH would fail with 454',
      );
    }
  });
  const file = config.directory.file;
  if (config.directory.source === 'file' && file) found.push(...homeChecks(config, file.path));
  return found;
}

/** Why a certificate and its key would not load together, or undefined when they would. */
export function pairProblem(cert: string, key: string): string | undefined {
  try {
    createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    return undefined;
  } catch (error) {
    return `certificate ${cert} with key ${key}: ${reason(error)}`;
  }
}

function caProblem(file: string): string | undefined {
  try {
    new X509Certificate(readFileSync(file));
    return undefined;
  } catch (error) {
    return `CA file ${file}: ${reason(error)}`;
  }
}

/** Users whose home names nothing in the catalog: refused at login, or a host name by accident. */
function homeChecks(config: Config, path: string): Finding[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return [{ file: path, key: '', line: undefined, message: `cannot read: ${reason(error)}` }];
  }
  const users = parseYaml(text, usersFileSchema, path).users;
  const lineOf = yamlLines(text);
  const known = new Set([...Object.keys(config.backends), ...Object.keys(config.pools)]);
  const literal = config.directory.allow_literal_hosts;
  const found: Finding[] = [];
  for (const [user, entry] of Object.entries(users)) {
    if (known.has(entry.home)) continue;
    const key = ['users', user, 'home'];
    found.push({
      file: path,
      key: key.join('.'),
      line: lineOf(key),
      message: literal
        ? `"${entry.home}" is no backend or pool: it is taken as a host name to connect to`
        : `"${entry.home}" is no backend or pool, and allow_literal_hosts is off`,
      warning: literal,
    });
  }
  return found;
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'not readable';
  return error instanceof Error ? error.message : String(error);
}
