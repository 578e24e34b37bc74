import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueServerCertificate, makeCertificates } from '@homing/testkit';
import { describe, expect, it } from 'vitest';
import { clash, parseListen } from '../src/config/addresses.js';
import { formatDuration, parseDuration } from '../src/config/duration.js';
import { effectiveConfig } from '../src/config/effective.js';
import { loadConfig } from '../src/config/load.js';
import { startChecks } from '../src/config/start-checks.js';

const dir = mkdtempSync(join(tmpdir(), 'homing-checks-'));
let n = 0;

function write(text: string, name = `c${++n}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function check(text: string) {
  const path = write(text);
  const { config } = loadConfig(path);
  return startChecks(config, path, text).map((f) => ({ ...f, file: f.file.replace(dir, '') }));
}

describe('clash', () => {
  it.each([
    ['127.0.0.1:143', '127.0.0.1:143', true],
    ['0.0.0.0:143', '127.0.0.1:143', true],
    ['127.0.0.1:143', '0.0.0.0:143', true],
    ['[::]:143', '127.0.0.1:143', true],
    ['[::]:143', '0.0.0.0:143', true],
    ['[::]:143', '[::1]:143', true],
    ['localhost:143', 'localhost:143', true],
    ['0.0.0.0:143', '[::1]:143', false],
    ['127.0.0.1:143', '127.0.0.2:143', false],
    ['127.0.0.1:143', '127.0.0.1:144', false],
    ['127.0.0.1:0', '127.0.0.1:0', false],
    ['0.0.0.0:143', 'mail.example.com:143', false],
  ])('%s and %s: %s', (a, b, expected) => {
    expect(clash(parseListen(a), parseListen(b))).toBe(expected);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [1, '1ms'],
    [1500, '1500ms'],
    [30_000, '30s'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
  ])('%d ms → %s, read back the same', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('the schema', () => {
  const base = 'directory:\n  source: file\n  file:\n    path: users.yaml\n';
  it.each([
    ['listeners:\n  - { protocol: imap, listen: 0.0.0.0:99999, tls: none }\n', /port must be 0/],
    ['listeners:\n  - { protocol: imap, listen: 0.0.0.0:65536, tls: none }\n', /port must be 0/],
    [
      'listeners:\n  - { protocol: imap, listen: 0.0.0.0:143, tls: none }\n  - { protocol: pop3, listen: 127.0.0.1:143, tls: none }\n',
      /listeners\.1\.listen: 127\.0\.0\.1:143 is also taken by listeners\.0\.listen/,
    ],
    [
      'admin: { listen: 127.0.0.1:9925, token: t0ken }\nlisteners:\n  - { protocol: imap, listen: 127.0.0.1:9925, tls: none }\n',
      /is also taken by admin\.listen/,
    ],
  ])('refuses %j', (text, message) => {
    const path = write(base + text);
    expect(() => loadConfig(path)).toThrow(message);
  });
});

describe('startChecks', () => {
  const certs = makeCertificates(dir);
  const other = issueServerCertificate(certs, dir, 'other', ['localhost']);
  write(
    'users:\n  a@example.com:\n    home: mbox-a\n  b@example.com:\n    home: mbox-typo\n',
    'users.yaml',
  );
  const base = 'directory:\n  source: file\n  file:\n    path: users.yaml\n';
  const backends = 'backends:\n  mbox-a:\n    host: 127.0.0.1\n    imap: {}\n';

  it('accepts a paired certificate and a catalog that names every home', () => {
    write('users:\n  a@example.com:\n    home: mbox-a\n', 'good-users.yaml');
    const text = `directory:\n  source: file\n  file:\n    path: good-users.yaml\ntls:\n  certificates:\n    - { cert: ${certs.cert}, key: ${certs.key} }\n${backends}`;
    expect(check(text)).toEqual([]);
  });

  it.each([
    [
      'a missing certificate',
      `tls:\n  certificates:\n    - { cert: ${join(dir, 'none.crt')}, key: ${certs.key} }\n`,
      {
        key: 'tls.certificates.0',
        line: 7,
        message: expect.stringMatching(/none\.crt.*no such file/),
      },
    ],
    [
      'a key that is not the certificate’s',
      `tls:\n  certificates:\n    - { cert: ${certs.cert}, key: ${other.key} }\n`,
      { key: 'tls.certificates.0', line: 7, message: expect.stringMatching(/key values mismatch/) },
    ],
    [
      'a certificate file that is no certificate',
      `tls:\n  certificates:\n    - { cert: ${join(dir, 'users.yaml')}, key: ${certs.key} }\n`,
      { key: 'tls.certificates.0', line: 7 },
    ],
    [
      'a CA file that is missing',
      'backends:\n  mbox-a:\n    host: 127.0.0.1\n    imap: {}\n    tls: { ca_file: nowhere.pem }\n',
      { key: 'backends.mbox-a.tls.ca_file', line: 9, message: expect.stringMatching(/no such/) },
    ],
    [
      'a submission listener in home mode with no backend offering submission',
      'listeners:\n  - { protocol: submission, listen: 127.0.0.1:587, tls: none }\n',
      { key: 'listeners.0.submission_mode', line: 6, message: expect.stringMatching(/454/) },
    ],
  ])('finds %s', (_what, text, finding) => {
    const catalog = text.includes('backends:') ? '' : backends;
    const found = check(`${base}${text}${catalog}`).filter((f) => !f.warning);
    expect(found).toEqual([expect.objectContaining(finding)]);
  });

  it('warns of a home that names no backend when literal hosts are allowed', () => {
    expect(check(base + backends)).toEqual([
      expect.objectContaining({
        file: '/users.yaml',
        key: 'users.b@example.com.home',
        line: 5,
        warning: true,
      }),
    ]);
  });

  it('refuses that home when literal hosts are not allowed', () => {
    const text = `${base}  allow_literal_hosts: false\n${backends}`;
    expect(check(text)).toEqual([
      expect.objectContaining({ key: 'users.b@example.com.home', warning: false }),
    ]);
  });
});

describe('effectiveConfig', () => {
  it('round-trips the example config, secrets masked', () => {
    const example = new URL('../../../deploy/examples/homing.yaml', import.meta.url).pathname;
    const { config } = loadConfig(example, {
      HOMING_LDAP_PASSWORD: 'hunter2-secret',
      HOMING_ADMIN_TOKEN: 'admin-secret-0123456789',
    });
    const text = effectiveConfig(config);
    expect(text).not.toContain('hunter2-secret');
    expect(text).not.toContain('admin-secret-0123456789');
    expect(text).toContain('drain_timeout: 30s');
    const again = loadConfig(write(text)).config;
    expect(effectiveConfig(again)).toBe(text);
    // Everything but the masked secrets (the LDAP password, the admin token) comes back.
    const unmasked = (c: typeof config) => ({
      ...c,
      directory: { ...c.directory, ldap: undefined },
      admin: { ...c.admin, token: undefined },
    });
    expect(unmasked(again)).toEqual(unmasked(config));
  });

  it('masks tokens, passwords and the password of a Redis URL', () => {
    const path = write(
      `${'directory:\n  source: file\n  file:\n    path: users.yaml\n'}admin:\n  token: abcdefghijklmnopqrstuvwxyz\nabuse:\n  state: redis\n  redis:\n    url: redis://homing:s3cret@127.0.0.1:6379/0\nbackends:\n  mbox-a:\n    host: 127.0.0.1\n    imap: {}\n    master: { user: m, password: masterpw }\n`,
    );
    const text = effectiveConfig(loadConfig(path).config);
    for (const secret of ['abcdefghijklmnop', 's3cret', 'masterpw'])
      expect(text).not.toContain(secret);
    expect(text).toContain('redis://homing:****************@127.0.0.1:6379/0');
    expect(() => loadConfig(write(text))).not.toThrow();
  });
});
