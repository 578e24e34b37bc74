import { compileQuery, parseSqlUrl } from '@homing/directory';
import type { z } from 'zod';
import type { sql } from './directory.js';

export interface SqlIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

export function sqlUrls(section: z.output<typeof sql>): string[] {
  return typeof section.url === 'string' ? [section.url] : section.url;
}

/**
 * What check-config can tell about the SQL section without a database: every URL readable,
 * each query's placeholders known, all servers of one kind (one query text serves them all).
 */
export function sqlIssues(section: z.output<typeof sql> | undefined): SqlIssue[] {
  if (!section) return [];
  const issues: SqlIssue[] = [];
  const base = ['directory', 'sql'];
  const dialects = new Set<string>();
  sqlUrls(section).forEach((url, i) => {
    const path = typeof section.url === 'string' ? [...base, 'url'] : [...base, 'url', i];
    try {
      dialects.add(parseSqlUrl(url).dialect);
    } catch (error) {
      issues.push({ path, message: (error as Error).message });
    }
  });
  if (dialects.size > 1) {
    issues.push({
      path: [...base, 'url'],
      message: 'all URLs must name the same kind of database: one query serves them all',
    });
  }
  const dialect = dialects.has('mysql') ? 'mysql' : 'postgres';
  const queries = [
    ['query', section.query],
    ['password_query', section.password_query],
  ] as const;
  for (const [key, text] of queries) {
    if (text === undefined) continue;
    try {
      compileQuery(text, dialect);
    } catch (error) {
      issues.push({ path: [...base, key], message: (error as Error).message });
    }
  }
  return issues;
}
