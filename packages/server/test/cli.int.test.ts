import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  freePort,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const homing = fileURLToPath(new URL('../bin/homing.js', import.meta.url));
const run = promisify(execFile);

/** Runs `homing ARGS`; resolves with exit code and output whatever the exit code. */
async function cli(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [homing, ...args], {
      env: { ...process.env, LDAP_PASSWORD: slapdServicePassword },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function metrics(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, {
    headers: { authorization: 'Bearer cli-token-0123456789' },
  });
  return response.text();
}

const dir = tempDir('cli');
let slapd: Slapd;
let ldapConfig: string;
let fileConfig: string;
let adminPort: number;

beforeAll(async () => {
  slapd = await Slapd.start([
    { uid: 'alice', mail: 'alice@example.com', password: 'alice-pw', mailHost: 'mbox-a' },
    {
      uid: 'bob',
      mail: 'bob@example.com',
      password: 'bob-pw',
      mailHost: 'mbox-b',
      mailRoutingAddress: 'robert@example.com',
    },
  ]);
  adminPort = await freePort();
  const backends =
    'backends:\n  mbox-a:\n    host: 127.0.0.1\n    imap: {}\n  mbox-b:\n    host: 127.0.0.2\n    imap: {}\n';
  ldapConfig = join(dir.path, 'ldap.yaml');
  writeFileSync(
    ldapConfig,
    [
      'log:\n  format: json',
      `admin:\n  listen: 127.0.0.1:${adminPort}\n  token: cli-token-0123456789`,
      'directory:',
      '  source: ldap',
      '  cache:\n    ttl: 4s\n    source_retry: 500ms',
      '  ldap:',
      `    urls: [${slapd.url}]`,
      `    bind_dn: ${slapdServiceDn}`,
      '    bind_password: ${LDAP_PASSWORD}',
      `    base_dn: ou=people,${slapdSuffix}`,
      '    timeout: 1s',
      '    connect_timeout: 500ms',
      backends,
    ].join('\n'),
  );
  writeFileSync(join(dir.path, 'users.yaml'), 'users:\n  carol@example.com:\n    home: mbox-b\n');
  fileConfig = join(dir.path, 'file.yaml');
  writeFileSync(
    fileConfig,
    `directory:\n  source: file\n  file:\n    path: users.yaml\n${backends}`,
  );
});

afterAll(async () => {
  await slapd.destroy();
  dir.remove();
});

describe('homing lookup', () => {
  it('answers for a user in LDAP', async () => {
    const { code, stdout } = await cli('lookup', '-c', ldapConfig, 'bob');
    expect(code).toBe(0);
    expect(stdout).toMatch(/login\s+robert@example\.com/);
    expect(stdout).toMatch(/backend\s+mbox-b at 127\.0\.0\.2/);
    expect(stdout).toMatch(/origin\s+ldap/);
  });

  it('answers for a user in a YAML file', async () => {
    const { code, stdout } = await cli('lookup', '-c', fileConfig, '--json', 'carol@EXAMPLE.com');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      found: true,
      origin: 'file',
      login: 'carol@example.com',
      home: 'mbox-b',
    });
  });

  it.each([
    ['LDAP', () => ldapConfig],
    ['file', () => fileConfig],
  ])('says "no such user" with exit status 2 (%s)', async (_name, config) => {
    const { code, stdout } = await cli('lookup', '-c', config(), 'nobody@example.com');
    expect(code).toBe(2);
    expect(stdout).toContain('nobody@example.com: no such user');
  });

  it('has help on every command', async () => {
    for (const command of ['start', 'check-config', 'lookup']) {
      const { code, stdout } = await cli(command, '--help');
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: homing ${command}`);
    }
  });
});

describe('homing start that cannot start', () => {
  it('exits 1 at once when a listener cannot bind, even with a watched users file', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as { port: number };
    const config = join(dir.path, 'busy.yaml');
    writeFileSync(
      config,
      `${readFileSync(fileConfig, 'utf8')}listeners:\n  - { protocol: imap, listen: 127.0.0.1:${port}, tls: none }\n`,
    );
    const started = Date.now();
    const { code, stdout } = await cli('start', '-c', config);
    busy.close();
    expect(code).toBe(1);
    expect(stdout).toContain('homing could not start');
    expect(Date.now() - started).toBeLessThan(8000);
  });
});

describe('homing check-config', () => {
  it('accepts a good config', async () => {
    const { code, stdout } = await cli('check-config', '-c', fileConfig);
    expect(code).toBe(0);
    expect(stdout).toContain('users file');
  });

  it('names the key and the line of each problem', async () => {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(
      bad,
      'directory:\n  source: file\n  file:\n    path: users.yaml\n    wach: true\nlog:\n  level: 3\n',
    );
    const { code, stderr } = await cli('check-config', '-c', bad);
    expect(code).toBe(1);
    expect(stderr).toContain(`${bad}:5: directory.file.wach: unknown key`);
    expect(stderr).toContain(`${bad}:7: log.level:`);
  });
});

describe('homing check-config, what start would fail on', () => {
  it('exits 1 on a missing certificate, naming the file, the key and the line', async () => {
    const bad = join(dir.path, 'no-cert.yaml');
    writeFileSync(
      bad,
      `${readFileSync(fileConfig, 'utf8')}tls:\n  certificates:\n    - cert: gone.crt\n      key: gone.key\n`,
    );
    const { code, stderr } = await cli('check-config', '-c', bad);
    expect(code).toBe(1);
    expect(stderr).toContain(
      `${bad}:14: tls.certificates.0: certificate ${join(dir.path, 'gone.crt')} with key`,
    );
  });

  it('prints the effective config, which check-config accepts again', async () => {
    const first = await cli('check-config', '-c', ldapConfig, '--effective');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('drain_timeout: 30s');
    expect(first.stdout).not.toContain(slapdServicePassword);
    const effective = join(dir.path, 'effective.yaml');
    writeFileSync(effective, first.stdout);
    const second = await cli('check-config', '-c', effective, '--effective');
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  });
});

describe('homing start', () => {
  let node: ChildProcess;
  let output = '';

  beforeAll(async () => {
    node = spawn(process.execPath, [homing, 'start', '-c', ldapConfig], {
      env: { ...process.env, LDAP_PASSWORD: slapdServicePassword },
    });
    node.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    node.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 10_000;
    while (!output.includes('homing ready')) {
      if (Date.now() > deadline || node.exitCode !== null) throw new Error(`not ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(() => {
    node.kill('SIGKILL');
  });

  it('serves the cached answer, marked stale, while slapd is down', async () => {
    const first = await cli('lookup', '-c', ldapConfig, '--node', '--json', 'alice');
    expect(JSON.parse(first.stdout)).toMatchObject({ found: true, origin: 'ldap', stale: false });
    const second = await cli('lookup', '-c', ldapConfig, '--node', '--json', 'alice');
    expect(JSON.parse(second.stdout)).toMatchObject({ origin: 'cache', stale: false });

    await slapd.stop();
    try {
      await new Promise((r) => setTimeout(r, 4100)); // past the 4 s TTL
      const stale = await cli('lookup', '-c', ldapConfig, '--node', 'alice');
      expect(stale.code).toBe(0);
      expect(stale.stdout).toMatch(/origin\s+cache \(stale, \d+ ms old/);
      const unknown = await cli('lookup', '-c', ldapConfig, '--node', 'bob');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no LDAP server answered');
      expect(await metrics()).toMatch(/^homing_directory_source_up 0$/m);
    } finally {
      await slapd.resume();
    }
    await new Promise((r) => setTimeout(r, 600)); // past source_retry: LDAP is asked again
    const recovered = await cli('lookup', '-c', ldapConfig, '--node', '--json', 'alice');
    expect(JSON.parse(recovered.stdout)).toMatchObject({ origin: 'ldap', stale: false });
    expect(await metrics()).toMatch(/^homing_directory_source_up 1$/m);
  });

  it('stops cleanly on SIGTERM and never logs the bind password', async () => {
    const exited = new Promise<number | null>((resolve) => node.once('exit', resolve));
    node.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopping');
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toContain(slapdServicePassword);
  });
});
