// The demo cluster on loopback: real OpenLDAP with a few users, two real Dovecot mailbox
// servers (A and B, each holding a message that names it) and a homing node in front of them.
// `npm run demo` runs the tour and keeps running until Ctrl-C; `npm run demo -- --once` runs the
// tour and exits, non-zero when a step fails.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  Dovecot,
  freePort,
  makeCertificates,
  Slapd,
  slapdAdminDn,
  slapdAdminPassword,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';

const once = process.argv.includes('--once');
const homing = join(import.meta.dirname, '..', 'packages', 'server', 'bin', 'homing.js');
const run = promisify(execFile);
const adminToken = randomBytes(24).toString('hex');
// The master user homing logs into the mailbox servers as (for a move, as each user).
const master = { user: 'homing-master', password: randomBytes(12).toString('hex') };
const env = {
  ...process.env,
  HOMING_LDAP_PASSWORD: slapdServicePassword,
  HOMING_ADMIN_TOKEN: adminToken,
  HOMING_MASTER_PASSWORD: master.password,
  HOMING_LDAP_WRITE_PASSWORD: slapdAdminPassword,
};

const people = [
  { uid: 'alice', home: 'mbox-a' },
  { uid: 'bob', home: 'mbox-b' },
  { uid: 'carol', home: 'mbox-a' },
];
const mail = (uid: string) => `${uid}@example.com`;
const secret = (uid: string) => `${uid}-pw`;

const dir = tempDir('demo');
const certs = makeCertificates(dir.path);
const [slapd, a, b] = await Promise.all([
  Slapd.start(
    people.map((p) => ({
      uid: p.uid,
      mail: mail(p.uid),
      password: secret(p.uid),
      mailHost: p.home,
    })),
  ),
  // Every user can live on either server: that is what lets `homing move` move them.
  ...(['A', 'B'] as const).map((name) =>
    Dovecot.start({
      name,
      sieve: true,
      masterUser: master,
      namespace: { specialUse: true },
      users: people.map((p) => ({ user: mail(p.uid), password: secret(p.uid) })),
    }),
  ),
]);
const adminPort = await freePort();
const imapPort = await freePort();
const pop3Port = await freePort();
const smtpPort = await freePort();
const sievePort = await freePort();
const config = join(dir.path, 'homing.yaml');
writeFileSync(
  config,
  `log:
  level: info
  format: json
admin:
  listen: 127.0.0.1:${adminPort}
  token: \${HOMING_ADMIN_TOKEN}
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: \${HOMING_LDAP_PASSWORD}
    base_dn: ou=people,${slapdSuffix}
  addresses:
    default_domain: example.com
listeners:
  - protocol: imap
    listen: 127.0.0.1:${imapPort}
    tls: starttls
    # loopback demo: curl and mail clients may log in without STARTTLS
    allow_plaintext_auth: true
  - protocol: pop3
    listen: 127.0.0.1:${pop3Port}
    tls: starttls
    allow_plaintext_auth: true
  - protocol: smtp
    listen: 127.0.0.1:${smtpPort}
    tls: starttls
  - protocol: managesieve
    listen: 127.0.0.1:${sievePort}
    tls: starttls
smtp:
  hostname: homing.demo
tls:
  certificates:
    - cert: ${certs.cert}
      key: ${certs.key}
limits:
  failed_login_delay: 1s
move:
  state_dir: moves
  ldap_bind_dn: ${slapdAdminDn}
  ldap_bind_password: \${HOMING_LDAP_WRITE_PASSWORD}
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${a.imapPort}, forward: id }
    pop3: { port: ${a.pop3Port}, forward: xclient }
    lmtp: { port: ${a.lmtpPort}, forward: xclient }
    managesieve: { port: ${a.managesievePort}, forward: xclient }
    master: { user: ${master.user}, password: '\${HOMING_MASTER_PASSWORD}' }
  mbox-b:
    host: 127.0.0.1
    imap: { port: ${b.imapPort}, forward: id }
    pop3: { port: ${b.pop3Port}, forward: xclient }
    lmtp: { port: ${b.lmtpPort}, forward: xclient }
    managesieve: { port: ${b.managesievePort}, forward: xclient }
    master: { user: ${master.user}, password: '\${HOMING_MASTER_PASSWORD}' }
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

let cleaning = false;
async function cleanup(code: number): Promise<never> {
  if (!cleaning) {
    cleaning = true;
    node.kill('SIGTERM');
    await Promise.all([slapd.destroy(), a.destroy(), b.destroy()]);
    dir.remove();
  }
  process.exit(code);
}
process.once('SIGINT', () => void cleanup(0));
process.once('SIGTERM', () => void cleanup(0));

async function waitReady(): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!log.includes('homing ready')) {
    if (Date.now() > deadline || node.exitCode !== null)
      throw new Error(`homing did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Exit status 2 means "no such user": an answer, not a failure. */
async function lookup(address: string): Promise<string | undefined> {
  const args = [homing, 'lookup', '-c', config, '--node', '--json', address];
  const { stdout } = await run(process.execPath, args, { env }).catch(
    (error: { code?: number; stdout?: string }) => {
      if (error.code === 2 && error.stdout) return { stdout: error.stdout };
      throw error;
    },
  );
  const answer = JSON.parse(stdout) as { found: boolean; backend?: { name: string } };
  return answer.found ? answer.backend?.name : undefined;
}

/** Sends a message through homing's MX listener with curl; resolves with curl's exit code. */
async function sendOverSmtp(to: string, subject: string): Promise<number> {
  const child = execFile('curl', [
    '-s',
    '--max-time',
    '10',
    '--url',
    `smtp://127.0.0.1:${smtpPort}`,
    '--mail-from',
    'postmaster@example.net',
    '--mail-rcpt',
    to,
    '-T',
    '-',
  ]);
  child.stdin?.end(
    `From: postmaster@example.net\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nSent through homing.\r\n`,
  );
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

/** Uploads a Sieve script through homing's ManageSieve listener with sieve-connect (STARTTLS). */
async function uploadSieve(uid: string, name: string): Promise<boolean> {
  const script = join(dir.path, `${name}.sieve`);
  writeFileSync(script, 'require ["vacation"];\r\nvacation "Away until Monday.";\r\n');
  const child = execFile('sieve-connect', [
    ...['--server', 'localhost', '--port', String(sievePort), '--user', uid],
    ...['--passwordfd', '0', '--tlscafile', certs.caCert],
    ...['--upload', '--localsieve', script, '--remotesieve', name],
  ]);
  child.stdin?.end(`${secret(uid)}\n`);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code === 0)));
}

/** The Subject a user reads at `url` through homing, with curl as the mail client. */
async function subjectAt(url: string, uid: string, missing: string): Promise<string> {
  const { stdout } = await run('curl', [
    '-s',
    '--max-time',
    '10',
    '--url',
    url,
    '--user',
    `${uid}:${secret(uid)}`,
  ]);
  return /^Subject: (.*)$/m.exec(stdout)?.[1]?.trim() ?? missing;
}

const imapUrl = (uid: number) =>
  `imap://127.0.0.1:${imapPort}/INBOX;UID=${uid};SECTION=HEADER.FIELDS%20(SUBJECT)`;
const subjectOverImap = (uid: string) => subjectAt(imapUrl(1), uid, '(nothing: login failed)');
const subjectOverPop3 = (uid: string) =>
  subjectAt(`pop3://127.0.0.1:${pop3Port}/1`, uid, '(nothing: login failed)');
const newestSubject = (uid: string) => subjectAt(imapUrl(2), uid, '(no message 2)');

let failed = 0;
function step(ok: boolean, text: string): void {
  if (!ok) failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
}

try {
  await waitReady();
  console.log('\nhoming demo cluster on loopback');
  console.log(`  LDAP        ${slapd.url}`);
  console.log(`  mailbox A   imap://127.0.0.1:${a.imapPort}   (alice, carol)`);
  console.log(`  mailbox B   imap://127.0.0.1:${b.imapPort}   (bob)`);
  console.log(
    `  homing      imap://127.0.0.1:${imapPort}   pop3://127.0.0.1:${pop3Port}   smtp://127.0.0.1:${smtpPort}`,
  );
  console.log(`              sieve://127.0.0.1:${sievePort} (ManageSieve)`);
  console.log(`  admin API   http://127.0.0.1:${adminPort} (token ${adminToken})`);
  console.log(`  config      ${config}\n`);

  console.log('directory: where does each user live?');
  for (const [address, expected] of [
    ['alice', 'mbox-a'],
    ['bob@example.com', 'mbox-b'],
    ['nobody@example.com', undefined],
  ] as const) {
    const home = await lookup(address);
    step(home === expected, `${address} → ${home ?? 'no such user'}`);
  }

  console.log('\nIMAP: the same homing address, each user on their own mailbox server');
  for (const [uid, backend] of [
    ['alice', 'A'],
    ['bob', 'B'],
    ['carol', 'A'],
  ] as const) {
    const subject = await subjectOverImap(uid);
    step(subject === `You are on backend ${backend}`, `${uid} reads "${subject}"`);
  }
  console.log("\nPOP3: the same, through homing's POP3 listener");
  for (const [uid, backend] of [
    ['bob', 'B'],
    ['alice', 'A'],
  ] as const) {
    const subject = await subjectOverPop3(uid);
    step(subject === `You are on backend ${backend}`, `${uid} retrieves "${subject}"`);
  }
  console.log("\nSMTP: mail to each user through homing's MX, read back from their own server");
  for (const uid of ['alice', 'bob'] as const) {
    const subject = `Hello ${uid}, via homing`;
    const code = await sendOverSmtp(mail(uid), subject);
    step(code === 0, `sent "${subject}" to ${mail(uid)}`);
    let got = '';
    for (let i = 0; i < 20 && got !== subject; i += 1) {
      got = await newestSubject(uid);
      if (got !== subject) await new Promise((r) => setTimeout(r, 100));
    }
    step(got === subject, `${uid} reads it over IMAP from ${uid === 'bob' ? 'B' : 'A'}: "${got}"`);
  }
  const wrong = await run('curl', [
    '-s',
    '--url',
    `imap://127.0.0.1:${imapPort}/`,
    '--user',
    'alice:wrong',
  ]).then(
    () => 'logged in',
    () => 'refused',
  );
  step(wrong === 'refused', `alice with a wrong password is ${wrong}`);

  console.log("\nManageSieve: each user's filters go to their own mailbox server");
  for (const [uid, server, name] of [
    ['bob', b, 'B'],
    ['alice', a, 'A'],
  ] as const) {
    const uploaded = await uploadSieve(uid, 'vacation');
    const there = existsSync(join(server.sieveDir(mail(uid)), 'vacation.sieve'));
    step(
      uploaded && there,
      `${uid} uploads a vacation script with sieve-connect; it is on ${name}`,
    );
  }

  console.log('\nmove: carol from A to B in one command, her mail with her');
  const moved = await run(
    process.execPath,
    [homing, 'move', 'carol', '--to', 'mbox-b', '-c', config],
    {
      env,
    },
  ).then(
    ({ stdout }) => stdout.trim().split('\n')[0] ?? '',
    (error: { stdout?: string; stderr?: string }) =>
      `failed: ${error.stdout ?? ''}${error.stderr ?? ''}`,
  );
  step(moved.startsWith('carol@example.com moved'), `homing move carol --to mbox-b: ${moved}`);
  const carolHome = await lookup('carol');
  // By position: UIDs are the new server's own.
  const carolReads = await subjectAt(
    `imap://127.0.0.1:${imapPort}/INBOX;MAILINDEX=1;SECTION=HEADER.FIELDS%20(SUBJECT)`,
    'carol',
    '(nothing: login failed)',
  );
  step(
    carolHome === 'mbox-b' && carolReads === 'You are on backend A',
    `carol → ${carolHome}, and reads "${carolReads}" there: the message A held moved with her`,
  );

  console.log('\ntry it yourself:');
  console.log(`  curl --url 'imap://127.0.0.1:${imapPort}/INBOX;UID=1' --user bob:bob-pw`);
  console.log(`  curl --url 'pop3://127.0.0.1:${pop3Port}/1' --user alice:alice-pw`);
  console.log(
    `  a mail client: server 127.0.0.1 port ${imapPort}, STARTTLS, user alice, password alice-pw`,
  );
  console.log(`    (the demo's CA: ${certs.caCert})`);
  console.log(
    `  sieve-connect --server localhost --port ${sievePort} --user carol --tlscafile ${certs.caCert} --list`,
  );
  console.log(`  node ${homing} lookup -c ${config} --node carol`);
  // What the config's \${...} need, for commands run by hand.
  const envFile = join(dir.path, 'demo.env');
  writeFileSync(
    envFile,
    [
      'HOMING_ADMIN_TOKEN',
      'HOMING_LDAP_PASSWORD',
      'HOMING_MASTER_PASSWORD',
      'HOMING_LDAP_WRITE_PASSWORD',
    ]
      .map((name) => `${name}=${env[name as keyof typeof env]}\n`)
      .join(''),
  );
  console.log(
    `  env $(cat ${envFile}) node ${homing} move carol --to mbox-a -c ${config}\n    (carol back to A; --dry-run first shows what it would copy)`,
  );
  if (once) await cleanup(failed === 0 ? 0 : 1);
  console.log(
    failed === 0
      ? '\ntour passed; running until Ctrl-C'
      : `\n${failed} step(s) failed; running until Ctrl-C`,
  );
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await cleanup(1);
}
