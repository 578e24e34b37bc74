import { FileSource, parseSqlUrl } from '@homing/directory';
import { addressRules } from '../build-directory.js';
import { loadConfig } from '../config/load.js';
import { sqlUrls } from '../config/sql-check.js';
import { reportError } from './errors.js';

/** Validates the config (and a users file it names); prints each problem with key and line. */
export async function checkConfig(path: string): Promise<number> {
  try {
    const { config } = loadConfig(path);
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
