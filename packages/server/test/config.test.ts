import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YamlSchemaError } from '@homing/directory';
import { defaultLimits } from '@homing/proxy-core';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/duration.js';
import { substituteEnv } from '../src/config/env.js';
import { loadConfig } from '../src/config/load.js';
import { journalWarning } from '../src/journal.js';
import { limitsFrom } from '../src/listeners.js';

const dir = mkdtempSync(join(tmpdir(), 'homing-config-'));
let n = 0;

function load(text: string, env: NodeJS.ProcessEnv = {}) {
  n += 1;
  const path = join(dir, `c${n}.yaml`);
  writeFileSync(path, text);
  return { path, result: () => loadConfig(path, env).config };
}

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}) {
  const { result } = load(text, env);
  try {
    result();
  } catch (error) {
    if (error instanceof YamlSchemaError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

const minimal = 'directory:\n  source: file\n  file:\n    path: users.yaml\n';

describe('loadConfig', () => {
  it('fills defaults and resolves files relative to the config file', () => {
    const { result } = load(minimal);
    const config = result();
    expect(config.directory.file?.path).toBe(join(dir, 'users.yaml'));
    expect(config.directory.cache).toEqual({
      max_entries: 100_000,
      ttl: 300_000,
      negative_ttl: 30_000,
      stale_if_error: 3_600_000,
      source_retry: 5000,
    });
    expect(config.log).toEqual({ level: 'info', format: 'auto', flush_interval: 1000 });
    expect(config.relay).toBe('kernel');
    expect(config.backend_defaults.imap).toEqual({ port: 143, tls: 'none', forward: 'none' });
    expect(config.backend_defaults.lmtp?.port).toBe(24);
    expect(config.smtp.journal).toEqual({
      state: 'memory',
      retention: 5 * 86_400_000,
      max_entries: 100_000,
      fingerprint_bytes: 65_536,
    });
    expect(config.smtp.backend_pool).toEqual({ max_idle: 32, idle_timeout: 30_000 });
    expect(config.backend_defaults.managesieve).toEqual({
      port: 4190,
      tls: 'none',
      forward: 'none',
    });
  });

  it('gives the DATA wait and directory lookups their own limits, as long as before', () => {
    const { limits } = load(minimal).result();
    expect(limits.backend_data_timeout).toBe(60_000);
    expect(limits.directory_timeout).toBe(5000);
    expect(limits.backend_data_timeout).toBe(defaultLimits.backendDataTimeoutMs);
    expect(limits.directory_timeout).toBe(defaultLimits.directoryTimeoutMs);
    const set = load(`${minimal}limits:\n  backend_data_timeout: 2m\n  directory_timeout: 3s\n`);
    expect(set.result().limits).toMatchObject({
      backend_data_timeout: 120_000,
      directory_timeout: 3000,
    });
  });

  it('gives every SMTP command towards a backend its own limit, as long as the wait it had', () => {
    const config = load(minimal).result();
    expect(config.limits.backend_command_timeout).toBe(15_000);
    const set = load(`${minimal}limits:\n  backend_command_timeout: 40s\n`).result();
    expect(limitsFrom(set).backendCommandTimeoutMs).toBe(40_000);
    // Told apart from the login's wait: setting one leaves the other.
    expect(limitsFrom(set).backendLoginTimeoutMs).toBe(15_000);
  });

  it("takes every limit's default from proxy-core's, so that each is written once", () => {
    expect(limitsFrom(load(minimal).result())).toEqual(defaultLimits);
  });

  it('takes a ManageSieve listener and backend service', () => {
    const { result } = load(
      `${minimal}listeners:\n  - protocol: managesieve\n    listen: 0.0.0.0:4190\n    tls: none\n` +
        'backends:\n  a:\n    host: mbox-a\n    managesieve:\n      forward: xclient\n',
    );
    const config = result();
    expect(config.listeners[0]).toMatchObject({
      protocol: 'managesieve',
      tls: 'none',
      allow_plaintext_auth: false,
    });
    expect(config.backends.a?.managesieve).toEqual({ port: 4190, tls: 'none', forward: 'xclient' });
  });

  it.each([
    [
      'a wrong type',
      `${minimal}  cache:\n    max_entries: lots\n`,
      'directory.cache.max_entries',
      6,
    ],
    ['an unknown key', `${minimal}  cahce:\n    ttl: 1m\n`, 'directory.cahce', 5],
    ['a bad enum value', `log:\n  level: loud\n${minimal}`, 'log.level', 2],
    ['a bad duration', `${minimal}  cache:\n    ttl: forever\n`, 'directory.cache.ttl', 6],
    [
      'a port out of range',
      `${minimal}backends:\n  a:\n    host: x\n    imap:\n      port: 0\n`,
      'backends.a.imap.port',
      9,
    ],
    ['a missing required key', `${minimal}backends:\n  a:\n    imap: {}\n`, 'backends.a.host', 6],
    ['a missing section', 'directory:\n  source: ldap\n', 'directory.ldap', 1],
    [
      'an unknown filter placeholder',
      'directory:\n  source: ldap\n  ldap:\n    urls: [ldap://x]\n    base_dn: dc=x\n    filter: (uid={user})\n',
      'directory.ldap.filter',
      6,
    ],
    [
      'a journal in Redis without abuse.redis',
      `smtp:\n  journal:\n    state: redis\n${minimal}`,
      'smtp.journal.state',
      3,
    ],
    [
      'a fingerprint past what backends hold',
      `smtp:\n  journal:\n    fingerprint_bytes: 1000000\n${minimal}`,
      'smtp.journal.fingerprint_bytes',
      3,
    ],
    [
      'an admin API without a token, even on loopback',
      `admin:\n  listen: 127.0.0.1:9925\n${minimal}`,
      'admin.token',
      1,
    ],
  ])('names the key and the line of %s', (_name, text, key, line) => {
    const issues = issuesOf(text);
    expect(issues).toContainEqual(expect.objectContaining({ key, line }));
  });

  it('takes relay: node, and names the key and line of a relay it does not know', () => {
    expect(load(`relay: node\n${minimal}`).result().relay).toBe('node');
    const { path, result } = load(`${minimal}relay: sendfile\n`);
    expect(result).toThrow(`${path}:5: relay: Invalid option`);
  });

  it('reports every problem, not just the first', () => {
    const issues = issuesOf(`log:\n  level: loud\n  colour: red\n${minimal}`);
    expect(issues.map((i) => i.key)).toEqual(['log.level', 'log.colour']);
  });

  it('formats problems as FILE:LINE: key: message', () => {
    const { path, result } = load(`log:\n  level: loud\n${minimal}`);
    expect(result).toThrow(`${path}:2: log.level: Invalid option`);
  });

  it('names the line of a YAML syntax error', () => {
    expect(issuesOf('directory:\n  source: file\n  file: [\n')[0]?.line).toBeGreaterThan(1);
  });

  it('substitutes ${ENV} and refuses an unset variable with key and line', () => {
    const ldap =
      'directory:\n  source: ldap\n  ldap:\n    urls: [ldap://x]\n    base_dn: dc=x\n    bind_password: ${LDAP_PW}\n';
    expect(load(ldap).result.length).toBe(0);
    const config = loadConfig(load(ldap).path, { LDAP_PW: 's3cret' }).config;
    expect(config.directory.ldap?.bind_password).toBe('s3cret');
    expect(issuesOf(ldap)).toEqual([
      {
        key: 'directory.ldap.bind_password',
        line: 6,
        message: 'environment variable LDAP_PW is not set',
      },
    ]);
  });

  it('says when the file cannot be read', () => {
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(
      /missing\.yaml: cannot read: ENOENT/,
    );
  });
});

describe('substituteEnv', () => {
  it.each([
    ['plain', 'plain'],
    ['${A}', 'x'],
    ['a${A}b${B}c', 'axbyc'],
    ['$${A}', '${A}'],
    ['$A', '$A'],
    ['${1A}', '${1A}'],
  ])('%j → %j', (input, expected) => {
    expect(substituteEnv(input, { A: 'x', B: 'y' })).toBe(expected);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    [0, 0],
    [2, 2000],
    ['0s', 0],
  ])('%j → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    '',
    'forever',
    '5',
    '-1s',
    '1w',
    '1 h',
    'NaNs',
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('deploy/examples/homing.yaml', () => {
  it('is a valid config', () => {
    const example = new URL('../../../deploy/examples/homing.yaml', import.meta.url).pathname;
    const { config } = loadConfig(example, {
      HOMING_LDAP_PASSWORD: 'x',
      HOMING_ADMIN_TOKEN: 'example-token-0123456789',
    });
    expect(config.listeners.map((l) => l.tls)).toEqual([
      'starttls',
      'implicit',
      'starttls',
      'starttls',
      'starttls',
      'implicit',
      'starttls',
    ]);
    expect(config.listeners.at(-1)?.protocol).toBe('managesieve');
    expect(config.backends['mbox-a']?.managesieve?.port).toBe(4190);
    expect(Object.keys(config.backends)).toEqual(['mbox-a', 'mbox-b']);
  });
});

describe('journalWarning', () => {
  const mx = 'listeners:\n  - protocol: smtp\n    listen: 127.0.0.1:25\n    tls: none\n';
  it.each([
    ['one worker', `${mx}${minimal}`, false],
    ['two workers, memory journal', `workers: 2\n${mx}${minimal}`, true],
    [
      'two workers, journal in Redis',
      `workers: 2\n${mx}smtp:\n  journal:\n    state: redis\nabuse:\n  redis:\n    url: redis://127.0.0.1:6379\n${minimal}`,
      false,
    ],
    ['two workers, policy single', `workers: 2\n${mx}    policy: single\n${minimal}`, false],
    ['two workers, no MX', `workers: 2\n${minimal}`, false],
  ])('%s', (_name, text, warned) => {
    const config = load(text).result();
    expect(journalWarning(config) !== undefined).toBe(warned);
  });
});
