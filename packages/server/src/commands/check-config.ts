import { FileSource, formatIssue, parseSqlUrl } from '@homing/directory';
import { addressRules } from '../build-directory.js';
import { effectiveConfig } from '../config/effective.js';
import { loadConfig } from '../config/load.js';
import { sqlUrls } from '../config/sql-check.js';
import { startChecks } from '../config/start-checks.js';
import { reportError } from './errors.js';

/**
 * Validates the config (and a users file it names), then what start would fail on: files it
 * names, catalog names. Prints each problem as FILE:LINE: key: what; warnings do not fail.
 */
export async function checkConfig(
  path: string,
  options: { effective?: boolean } = {},
): Promise<number> {
  try {
    const { config, text } = loadConfig(path);
    const findings = startChecks(config, path, text);
    for (const f of findings) {
      const message = f.warning ? `warning: ${f.message}` : f.message;
      process.stderr.write(`${formatIssue(f.file, { ...f, message })}\n`);
    }
    if (findings.some((f) => !f.warning)) return 1;
    if (options.effective) {
      process.stdout.write(effectiveConfig(config));
      return 0;
    }
    const lines = [`${path}: ok`, `  directory: ${config.directory.source}`];
    const file = config.directory.file;
    if (config.directory.source === 'file' && file) {
      const source = await FileSource.open({
        path: file.path,
        watch: false,
        rules: addressRules(config),
      });
      lines.push(`  users file: ${file.path} (${source.size} addresses)`);
      await source.close();
    }
    const sql = config.directory.sql;
    if (config.directory.source === 'sql' && sql) {
      // Labels only: a URL may hold a password.
      const servers = sqlUrls(sql).map((url) => parseSqlUrl(url).label);
      const passwords = sql.password_query ? 'checked by password_query' : 'not checked';
      lines.push(`  sql: ${servers.join(', ')} (passwords ${passwords})`);
    }
    lines.push(`  backends: ${Object.keys(config.backends).join(', ') || 'none'}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
