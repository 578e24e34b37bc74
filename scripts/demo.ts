// The demo cluster on loopback: a real OpenLDAP with a few users and a homing node in front of
// two mailbox servers. `npm run demo` runs the tour and keeps running until Ctrl-C;
// `npm run demo -- --once` runs the tour and exits (non-zero when a step fails).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';

const once = process.argv.includes('--once');
const homing = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'homing.js');
const run = promisify(execFile);
const env = { ...process.env, HOMING_LDAP_PASSWORD: slapdServicePassword };

const users = [
  {
    uid: 'alice',
    mail: 'alice@example.com',
    password: 'alice-pw',
    mailHost: 'mbox-a',
    aliases: ['a.smith@example.com'],
  },
  { uid: 'bob', mail: 'bob@example.com', password: 'bob-pw', mailHost: 'mbox-b' },
  { uid: 'carol', mail: 'carol@example.com', password: 'carol-pw', mailHost: 'mbox-a' },
];

const dir = tempDir('demo');
const slapd = await Slapd.start(users);
const adminPort = await freePort();
const config = join(dir.path, 'homing.yaml');
writeFileSync(
  config,
  `log:
  level: info
  format: json
admin:
  listen: 127.0.0.1:${adminPort}
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: \${HOMING_LDAP_PASSWORD}
    base_dn: ou=people,${slapdSuffix}
  addresses:
    default_domain: example.com
backends:
  mbox-a:
    host: 127.0.0.1
    imap: {}
  mbox-b:
    host: 127.0.0.2
    imap: {}
`,
);

const node: ChildProcess = spawn(process.execPath, [homing, 'start', '-c', config], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let log = '';
node.stdout?.on('data', (chunk: Buffer) => {
  log += chunk.toString();
});

async function cleanup(code: number): Promise<never> {
  node.kill('SIGTERM');
  await slapd.destroy();
  dir.remove();
  process.exit(code);
}
process.once('SIGINT', () => void cleanup(0));
process.once('SIGTERM', () => void cleanup(0));

async function waitReady(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!log.includes('homing ready')) {
    if (Date.now() > deadline || node.exitCode !== null)
      throw new Error(`homing did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function lookup(address: string): Promise<{ found: boolean; backend?: { name: string } }> {
  const args = [homing, 'lookup', '-c', config, '--node', '--json', address];
  // Exit status 2 means "no such user": an answer, not a failure.
  const { stdout } = await run(process.execPath, args, { env }).catch(
    (error: { code?: number; stdout?: string }) => {
      if (error.code === 2 && error.stdout) return { stdout: error.stdout };
      throw error;
    },
  );
  return JSON.parse(stdout);
}

try {
  await waitReady();
  console.log(
    `\nhoming demo: LDAP at ${slapd.url}, homing admin API at http://127.0.0.1:${adminPort}`,
  );
  console.log(`config: ${config}\n`);
  const tour: [string, string | undefined][] = [
    ['alice', 'mbox-a'],
    ['bob@example.com', 'mbox-b'],
    ['a.smith@example.com', 'mbox-a'],
    ['nobody@example.com', undefined],
  ];
  let failed = 0;
  for (const [address, expected] of tour) {
    const result = await lookup(address);
    const got = result.found ? result.backend?.name : undefined;
    const ok = got === expected;
    if (!ok) failed += 1;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${address} → ${got ?? 'no such user'}`);
  }
  console.log(`\ntry: node ${homing} lookup -c ${config} --node alice`);
  if (once) await cleanup(failed === 0 ? 0 : 1);
  console.log('running until Ctrl-C');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await cleanup(1);
}
