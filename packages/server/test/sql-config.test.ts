import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YamlSchemaError } from '@homing/directory';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { sqlUrls } from '../src/config/sql-check.js';

const dir = mkdtempSync(join(tmpdir(), 'homing-sql-config-'));
let n = 0;

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  n += 1;
  const path = join(dir, `c${n}.yaml`);
  writeFileSync(path, text);
  return loadConfig(path, env).config;
}

function issuesOf(text: string) {
  try {
    load(text);
  } catch (error) {
    if (error instanceof YamlSchemaError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

const section = (lines: string) => `directory:\n  source: sql\n  sql:\n${lines}`;
const query = '    query: "SELECT home FROM mailbox WHERE username = :address"\n';

describe('directory.sql', () => {
  it('takes one URL or several, the password from the environment, and fills defaults', () => {
    const one = load(
      section(`    url: postgres://homing@db1/mail\n    password: \${PW}\n${query}`),
      { PW: 'pw' },
    ).directory.sql;
    expect(one && sqlUrls(one)).toEqual(['postgres://homing@db1/mail']);
    expect(one).toMatchObject({
      password: 'pw',
      pool_size: 4,
      timeout: 3000,
      connect_timeout: 2000,
      default_password_scheme: 'SHA512-CRYPT',
      tls: { verify: true },
    });
    const two = load(
      section(`    url: [mysql://h1/mail, "mysql://h2:3307/mail?ssl=true"]\n${query}`),
    ).directory.sql;
    expect(two && sqlUrls(two)).toHaveLength(2);
  });

  it.each([
    ['a missing section', 'directory:\n  source: sql\n', 'directory.sql', 1],
    ['no query', section('    url: postgres://h/mail\n'), 'directory.sql.query', 3],
    [
      'an unknown placeholder',
      section('    url: postgres://h/mail\n    query: "SELECT home FROM m WHERE u = :user"\n'),
      'directory.sql.query',
      5,
    ],
    [
      "a driver's own marker",
      section('    url: mysql://h/mail\n    query: "SELECT home FROM m WHERE u = ?"\n'),
      'directory.sql.query',
      5,
    ],
    [
      'an unknown placeholder in the password query',
      section(
        `    url: postgres://h/mail\n${query}    password_query: "SELECT password WHERE u = :login"\n`,
      ),
      'directory.sql.password_query',
      6,
    ],
    ['another scheme', section(`    url: ldap://h/mail\n${query}`), 'directory.sql.url', 4],
    [
      'an unknown URL option',
      section(`    url: [postgres://h/mail, "postgres://h2/mail?sslcert=x"]\n${query}`),
      'directory.sql.url.1',
      4,
    ],
    [
      'two kinds of database',
      section(`    url: [postgres://h/mail, mysql://h2/mail]\n${query}`),
      'directory.sql.url',
      4,
    ],
    [
      'an unknown password scheme',
      section(`    url: postgres://h/mail\n${query}    default_password_scheme: MD5\n`),
      'directory.sql.default_password_scheme',
      6,
    ],
    [
      'a pool of none',
      section(`    url: postgres://h/mail\n${query}    pool_size: 0\n`),
      'directory.sql.pool_size',
      6,
    ],
  ])('names the key and line of %s', (_name, text, key, line) => {
    expect(issuesOf(text)).toContainEqual(expect.objectContaining({ key, line }));
  });

  it('wants a password query for submission relay mode', () => {
    const relay = `smtp:\n  smarthost: { host: 127.0.0.1 }\nlisteners:\n  - { protocol: submission, listen: 127.0.0.1:2587, submission_mode: relay, tls: none, allow_plaintext_auth: true }\n`;
    const text = `${relay}${section(`    url: postgres://h/mail\n${query}`)}`;
    expect(issuesOf(text)).toContainEqual(
      expect.objectContaining({ key: 'listeners.0.submission_mode', line: 4 }),
    );
    const withQuery = `${text}    password_query: SELECT password FROM mailbox WHERE username = :address\n`;
    expect(load(withQuery).directory.sql?.password_query).toContain(':address');
  });

  it('never repeats a password from a URL in a problem report', () => {
    const issues = issuesOf(section(`    url: "postgres://u:hunter2@h/mail?x=1"\n${query}`));
    expect(JSON.stringify(issues)).not.toContain('hunter2');
  });
});
