import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Dovecot, freePort, RawClient, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homingBin, NodeProcess } from './node-process.js';

const run = promisify(execFile);
const dir = tempDir('admin');
const token = 'admin-cli-token-0123456789';
let dovecot: Dovecot;
let node: NodeProcess;
const ports = { admin: 0, imap: 0 };
const config = join(dir.path, 'homing.yaml');
let configText = '';

/** Every route of the admin API but the health checks. */
const guarded: [string, string][] = [
  ['GET', '/metrics'],
  ['GET', '/sessions'],
  ['POST', '/sessions/kick'],
  ['POST', '/directory/flush'],
  ['GET', '/directory/lookup?address=alice@example.com'],
  ['GET', '/backends'],
  ['POST', '/reload'],
  ['POST', '/users/freeze'],
  ['POST', '/users/thaw'],
  ['GET', '/users/frozen?user=alice@example.com'],
  ['POST', '/moves/start'],
  ['GET', '/moves'],
];

/**
 * Runs `homing ARGS` with the admin address and token only: a config file that does not exist,
 * and none of the secrets the node's own config names.
 */
async function cli(...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, HOMING_ADMIN_TOKEN: token };
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [homingBin, ...args, '--admin', `127.0.0.1:${ports.admin}`, '-c', '/nonexistent.yaml'],
      { env },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function login() {
  const client = await RawClient.connect({ port: ports.imap });
  await client.until(/^\* OK /);
  client.send('a LOGIN alice@example.com alice-pw');
  expect((await client.until(/^a /)).at(-1)).toMatch(/^a OK /);
  return client;
}

beforeAll(async () => {
  dovecot = await Dovecot.start({
    name: 'A',
    users: [{ user: 'alice@example.com', password: 'alice-pw' }],
  });
  ports.admin = await freePort();
  ports.imap = await freePort();
  writeFileSync(join(dir.path, 'users.yaml'), 'users:\n  alice@example.com:\n    home: mbox-a\n');
  // The node's secrets come from variables the commands under test never see.
  configText = `log: { format: json }
admin:
  listen: 127.0.0.1:${ports.admin}
  token: \${NODE_ONLY_ADMIN_TOKEN}
directory:
  source: file
  file: { path: users.yaml }
listeners:
  - { protocol: imap, listen: 127.0.0.1:${ports.imap}, tls: none, allow_plaintext_auth: true }
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort} }
`;
  writeFileSync(config, configText);
  node = new NodeProcess(config, { NODE_ONLY_ADMIN_TOKEN: token });
  await node.waitFor('homing ready');
});

afterAll(async () => {
  node?.signal('SIGKILL');
  await dovecot?.destroy();
  dir.remove();
});

describe('admin API on loopback', () => {
  it('answers the health checks to anyone', async () => {
    for (const path of ['/healthz', '/readyz']) {
      expect((await fetch(`http://127.0.0.1:${ports.admin}${path}`)).status).toBe(200);
    }
  });

  it.each(guarded)('refuses %s %s without the token, or with a wrong one', async (method, path) => {
    const url = `http://127.0.0.1:${ports.admin}${path}`;
    expect((await fetch(url, { method })).status).toBe(401);
    const wrong = await fetch(url, { method, headers: { authorization: `Bearer ${token}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(url, { method, headers: { authorization: `Bearer ${token}` } });
    expect(right.status).not.toBe(401);
  });
});

describe('admin commands with only the admin address and token', () => {
  it('sessions and kick', async () => {
    const client = await login();
    const listed = await cli('sessions', '--user', 'alice@example.com');
    expect(listed.stdout).toMatch(/imap\s+alice@example\.com\s+127\.0\.0\.1\s+mbox-a/);
    expect(await cli('kick', 'alice@example.com')).toMatchObject({
      code: 0,
      stdout: 'alice@example.com: 1 session(s) closed\n',
    });
    await client.waitClosed();
  });

  it('a frozen user gets NO [UNAVAILABLE] until thawed; a freeze is capped by move.freeze_max', async () => {
    const admin = (path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${ports.admin}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then((r) => r.json());
    expect(await admin('/users/freeze', { user: 'Alice@Example.com', ms: 3_600_000 })).toEqual({
      user: 'Alice@Example.com',
      frozen_ms: 300_000,
    });
    const frozen = (await admin('/users/frozen?user=alice@example.com')) as { frozen_ms: number };
    expect(frozen.frozen_ms).toBeGreaterThan(290_000);
    const client = await RawClient.connect({ port: ports.imap });
    await client.until(/^\* OK /);
    client.send('a LOGIN alice@example.com alice-pw');
    expect((await client.until(/^a /)).at(-1)).toMatch(/^a NO \[UNAVAILABLE\] /);
    client.close();
    expect(await admin('/users/thaw', { user: 'alice@example.com' })).toMatchObject({
      frozen_ms: 0,
    });
    (await login()).close();
  });

  it('lookup --node and flush', async () => {
    const found = await cli('lookup', '--node', '--json', 'alice@example.com');
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ found: true });
    expect(await cli('flush', 'alice@example.com')).toMatchObject({
      code: 0,
      stdout: 'flushed alice@example.com\n',
    });
  });

  it('backends', async () => {
    const shown = await cli('backends');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^mbox-a\/imap\s+up\b/m);
  });

  it('lists where a spliced session moves its bytes, as relay says at start and after a reload', async () => {
    const listed = async () => {
      const answer = await fetch(`http://127.0.0.1:${ports.admin}/sessions`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const { sessions } = (await answer.json()) as { sessions: { relay?: string }[] };
      return sessions.map((s) => s.relay);
    };
    const relayOf = async () => {
      // The last session leaves the list just after its client saw the end.
      await expect.poll(listed, { timeout: 2000 }).toEqual([]);
      const client = await login();
      const relays = await listed();
      client.send('z LOGOUT');
      await client.waitClosed();
      return relays;
    };
    // Plaintext on both sides: the kernel, homing's default.
    expect(await relayOf()).toEqual(['kernel']);
    writeFileSync(config, `relay: node\n${configText}`);
    const from = node.output.length;
    expect(await cli('reload')).toMatchObject({ code: 0 });
    await node.waitFor('config reloaded', 5000, from);
    expect(await relayOf()).toEqual(['node']);
    writeFileSync(config, configText);
    expect(await cli('reload')).toMatchObject({ code: 0 });
    expect(await relayOf()).toEqual(['kernel']);
  });

  it('reload: applied, then refused with the reason in the node log', async () => {
    expect(await cli('reload')).toMatchObject({ code: 0, stdout: 'config reloaded\n' });
    await node.waitFor('config reloaded');
    writeFileSync(config, 'directory:\n  source: nonsense\n');
    const from = node.output.length;
    const refused = await cli('reload');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/reload refused/);
    await node.waitFor('reload refused', 5000, from);
    writeFileSync(config, configText);
  });

  it('says what is missing without a token', async () => {
    const env = { ...process.env };
    delete env.HOMING_ADMIN_TOKEN;
    const result = await run(
      process.execPath,
      [homingBin, 'sessions', '--admin', `127.0.0.1:${ports.admin}`, '-c', '/nonexistent.yaml'],
      { env },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(/cannot read \/nonexistent\.yaml/);
  });
});
