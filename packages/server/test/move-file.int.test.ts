import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Dovecot, freePort, RawClient, tempDir } from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog, buildDirectory } from '../src/build-directory.js';
import { loadConfig } from '../src/config/load.js';
import { writeBind } from '../src/move/flip.js';
import { adminPool } from '../src/move/pool-control.js';
import { runMove } from '../src/move/run.js';
import { homingBin, NodeProcess } from './node-process.js';

// One node with a users file and its state in memory (no Redis): the freeze holds on this node,
// the flip rewrites the file the node watches.
const run = promisify(execFile);
const dir = tempDir('move-file');
const token = 'move-file-token-0123456789';
const master = { user: 'mover', password: 'mover-secret' };
const bob = { user: 'bob@example.com', password: 'bob-pw' };
const users = join(dir.path, 'users.yaml');
const config = join(dir.path, 'homing.yaml');
let a: Dovecot;
let b: Dovecot;
let node: NodeProcess;
const ports = { imap: 0, pop3: 0, admin: 0 };

async function homeSeen(): Promise<string> {
  const response = await fetch(
    `http://127.0.0.1:${ports.admin}/directory/lookup?address=${bob.user}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  return ((await response.json()) as { backend: { name: string } }).backend.name;
}

async function pop3Login(): Promise<string> {
  const client = await RawClient.connect({ port: ports.pop3 });
  try {
    await client.until(/^\+OK /);
    client.send(`USER ${bob.user}`);
    await client.until(/^[+-]/);
    client.send(`PASS ${bob.password}`);
    return (await client.until(/^[+-]/)).at(-1) as string;
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  const accounts = [bob];
  [a, b] = await Promise.all([
    Dovecot.start({ name: 'A', users: accounts, masterUser: master }),
    Dovecot.start({ name: 'B', users: accounts, masterUser: master }),
  ]);
  ports.imap = await freePort();
  ports.pop3 = await freePort();
  ports.admin = await freePort();
  writeFileSync(
    users,
    `# who lives where\nusers:\n  ${bob.user}:\n    home: mbox-a # since 2020\n`,
  );
  writeFileSync(
    config,
    `log: { level: info, format: json }
admin: { listen: 127.0.0.1:${ports.admin}, token: ${token} }
directory:
  source: file
  file: { path: users.yaml }
listeners:
  - { protocol: imap, listen: 127.0.0.1:${ports.imap}, tls: none, allow_plaintext_auth: true }
  - { protocol: pop3, listen: 127.0.0.1:${ports.pop3}, tls: none, allow_plaintext_auth: true }
move: { state_dir: moves }
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${a.imapPort} }
    pop3: { port: ${a.pop3Port} }
    master: { user: ${master.user}, password: ${master.password} }
  mbox-b:
    host: 127.0.0.1
    imap: { port: ${b.imapPort} }
    pop3: { port: ${b.pop3Port} }
    master: { user: ${master.user}, password: ${master.password} }
`,
  );
  node = new NodeProcess(config);
  await node.waitFor('homing ready');
}, 60_000);

afterAll(async () => {
  node?.signal('SIGKILL');
  await Promise.all([a?.destroy(), b?.destroy()]);
  dir.remove();
});

describe('homing move with a users file and no Redis', () => {
  it('freezes on the node (POP3 gets -ERR [SYS/TEMP]), flips the file, and the node follows', async () => {
    expect(await homeSeen()).toBe('mbox-a');
    const loaded = loadConfig(config).config;
    const directory = await buildDirectory(loaded, pino({ level: 'silent' }));
    let during = '';
    const outcome = await runMove(
      { user: bob.user, to: 'mbox-b' },
      {
        config: loaded,
        directory,
        catalog: buildCatalog(loaded),
        pool: adminPool({ listen: `127.0.0.1:${ports.admin}`, token }),
        bind: writeBind(loaded, {}),
        timeouts: { connectMs: 5000, socketMs: 10_000 },
        report: async (event) => {
          if (event.type === 'phase' && event.phase === 'freeze') during = await pop3Login();
        },
      },
    ).finally(() => directory.close());
    expect(outcome).toMatchObject({ code: 0, from: 'mbox-a', to: 'mbox-b' });
    expect(during).toMatch(/^-ERR \[SYS\/TEMP\] /);
    expect(readFileSync(users, 'utf8')).toBe(
      `# who lives where\nusers:\n  ${bob.user}:\n    home: mbox-b # since 2020\n`,
    );
    expect(await homeSeen()).toBe('mbox-b');
    expect(await pop3Login()).toMatch(/^\+OK/);
  }, 60_000);

  it('the command moves the user back and says so', async () => {
    const { stdout } = await run(process.execPath, [
      homingBin,
      'move',
      bob.user,
      '--to',
      'mbox-a',
      '-c',
      config,
    ]);
    expect(stdout).toBe(`${bob.user} moved from mbox-b to mbox-a\n`);
    expect(readFileSync(users, 'utf8')).toMatch(/home: mbox-a # since 2020/);
    expect(await homeSeen()).toBe('mbox-a');
  }, 60_000);
});
