import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  Dovecot,
  freePort,
  RawClient,
  RedisServer,
  Slapd,
  slapdAdminDn,
  slapdAdminPassword,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
  tempDir,
} from '@homing/testkit';
import { ImapFlow } from 'imapflow';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog, buildDirectory } from '../src/build-directory.js';
import { loadConfig } from '../src/config/load.js';
import { writeBind } from '../src/move/flip.js';
import { adminPool } from '../src/move/pool-control.js';
import { type MoveEvent, runMove } from '../src/move/run.js';
import { homingBin, NodeProcess } from './node-process.js';

// Two homing nodes sharing Redis, in front of two Dovecots with a master user: A with
// Dovecot's '.' hierarchy, B with '/', both with special-use mailboxes from their config.
const run = promisify(execFile);
const dir = tempDir('move');
const token = 'move-token-0123456789';
const master = { user: 'mover', password: 'mover-secret' };
const alice = { user: 'alice@example.com', password: 'alice-pw' };
let slapd: Slapd;
let a: Dovecot;
let b: Dovecot;
let redis: RedisServer;
const nodes: { process: NodeProcess; config: string; imap: number; smtp: number; admin: number }[] =
  [];

function config(n: { imap: number; smtp: number; admin: number }): string {
  return `log: { level: info, format: json }
admin: { listen: 127.0.0.1:${n.admin}, token: ${token} }
directory:
  source: ldap
  ldap:
    urls: [${slapd.url}]
    bind_dn: ${slapdServiceDn}
    bind_password: ${slapdServicePassword}
    base_dn: ou=people,${slapdSuffix}
  # Long: only the move's flush makes a node see the new home in time.
  cache: { ttl: 10m }
listeners:
  - { protocol: imap, listen: 127.0.0.1:${n.imap}, tls: none, allow_plaintext_auth: true }
  - { protocol: smtp, listen: 127.0.0.1:${n.smtp}, tls: none }
limits: { failed_login_delay: 100ms }
abuse:
  state: redis
  redis: { url: '${redis.url}' }
move:
  freeze_max: 1m
  state_dir: moves
  ldap_bind_dn: ${slapdAdminDn}
  ldap_bind_password: ${slapdAdminPassword}
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${a.imapPort} }
    lmtp: { port: ${a.lmtpPort} }
    managesieve: { port: ${a.managesievePort} }
    master: { user: ${master.user}, password: ${master.password} }
  mbox-b:
    host: 127.0.0.1
    imap: { port: ${b.imapPort} }
    lmtp: { port: ${b.lmtpPort} }
    managesieve: { port: ${b.managesievePort} }
    master: { user: ${master.user}, password: ${master.password} }
`;
}

/** The move as the CLI runs it, in this process, driven through node 0's admin API. */
async function move(
  request: { to?: string; abort?: boolean; resume?: boolean; replaceTarget?: boolean },
  report: (event: MoveEvent) => void | Promise<void> = () => {},
) {
  const { config } = loadConfig(nodes[0]?.config as string);
  const directory = await buildDirectory(config, pino({ level: 'silent' }));
  try {
    return await runMove(
      { user: alice.user, ...request },
      {
        config,
        directory,
        catalog: buildCatalog(config),
        pool: adminPool({ listen: `127.0.0.1:${nodes[0]?.admin}`, token }),
        bind: writeBind(config, {}),
        timeouts: { connectMs: 5000, socketMs: 10_000 },
        report,
      },
    );
  } finally {
    await directory.close();
  }
}

/** A mover process that SIGKILLs itself at `dieAt` (see mover-that-dies.mjs). */
async function moverThatDies(to: string, dieAt: string): Promise<NodeJS.Signals | null> {
  const script = fileURLToPath(new URL('./mover-that-dies.mjs', import.meta.url));
  const args = [script, nodes[0]?.config as string, alice.user, to, dieAt, `${nodes[0]?.admin}`];
  const child = spawn(process.execPath, [...args, token], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (signal === null) throw new Error(`the mover did not die (exit ${code}): ${stdout}`);
  return signal;
}

function workerPids(output: string): number[] {
  return [...new Set([...output.matchAll(/"worker":(\d+)/g)].map((m) => Number(m[1])))];
}

async function admin(n: number, path: string) {
  const response = await fetch(`http://127.0.0.1:${nodes[n]?.admin}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await response.json()) as Record<string, unknown>;
}

async function homeSeenBy(n: number): Promise<string> {
  const found = (await admin(n, `/directory/lookup?address=${alice.user}`)) as {
    backend: { name: string };
  };
  return found.backend.name;
}

async function imapLogin(n: number) {
  const client = await RawClient.connect({ port: nodes[n]?.imap as number });
  await client.until(/^\* OK /);
  client.send(`a LOGIN ${alice.user} ${alice.password}`);
  const reply = (await client.until(/^a /)).at(-1) as string;
  return { client, reply };
}

/** One SMTP transaction to alice through node `n`'s MX; the reply to RCPT, and to DATA. */
async function sendMail(n: number, subject: string) {
  const client = await RawClient.connect({ port: nodes[n]?.smtp as number });
  try {
    await client.until(/^220 /);
    client.send('EHLO sender.example.net');
    await client.until(/^250 /);
    client.send('MAIL FROM:<sender@example.net>');
    await client.until(/^\d{3} /);
    client.send(`RCPT TO:<${alice.user}>`);
    const rcpt = (await client.until(/^\d{3} /)).at(-1) as string;
    if (!rcpt.startsWith('250')) return { rcpt };
    client.send('DATA');
    await client.until(/^354 /);
    client.send(`Subject: ${subject}\r\nMessage-ID: <${subject}@example.net>\r\n\r\nhello\r\n.`);
    const data = (await client.until(/^\d{3} /, 15_000)).at(-1) as string;
    return { rcpt, data };
  } finally {
    client.close();
  }
}

async function imapOn(server: Dovecot): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: server.imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user: alice.user, pass: alice.password },
    logger: false,
  });
  await client.connect();
  return client;
}

function rfc822(id: string | undefined, subject: string, body = 'hello'): string {
  const headers = [`From: <someone@example.net>`, `To: <${alice.user}>`, `Subject: ${subject}`];
  if (id) headers.push(`Message-ID: <${id}@example.net>`);
  return `${headers.join('\r\n')}\r\n\r\n${body}\r\n`;
}

const scripts = {
  junk: 'require ["fileinto"];\r\nif header :contains "subject" "spam" { fileinto "Junk"; }\r\n',
  vacation: 'require ["vacation"];\r\nvacation "Away until Monday.";\r\n',
};

/** Uploads a Sieve script for alice straight to a server's ManageSieve (RFC 5804). */
async function putScript(server: Dovecot, name: string, text: string, activate: boolean) {
  const client = await RawClient.connect({ port: server.managesievePort as number });
  const answer = async () => (await client.until(/^(OK|NO|BYE)/)).at(-1) as string;
  try {
    await answer();
    const plain = Buffer.from(`\0${alice.user}\0${alice.password}`).toString('base64');
    client.send(`AUTHENTICATE "PLAIN" "${plain}"`);
    expect(await answer()).toMatch(/^OK/);
    client.send(`PUTSCRIPT "${name}" {${Buffer.byteLength(text)}+}`);
    client.write(text);
    client.send('');
    expect(await answer()).toMatch(/^OK/);
    if (activate) {
      client.send(`SETACTIVE "${name}"`);
      expect(await answer()).toMatch(/^OK/);
    }
  } finally {
    client.close();
  }
}

/** Alice's scripts on a server as files, and the one active. */
function sieveOf(server: Dovecot) {
  const dir = server.sieveDir(alice.user);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sieve')) : [];
  const active = join(dirname(dir), '.dovecot.sieve');
  return {
    scripts: Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')])),
    active: existsSync(active) ? basename(readlinkSync(active)) : null,
  };
}

interface Box {
  specialUse: string | null;
  subscribed: boolean;
  messages: string[];
}

/**
 * What a user sees on one server, written the same whatever the server's delimiter: per
 * mailbox its special use, subscription, and each message's subject, Message-ID, internal
 * date, size and flags. Read with imapflow apart from the move's own code.
 */
async function snapshot(server: Dovecot): Promise<Record<string, Box>> {
  const client = await imapOn(server);
  try {
    const result: Record<string, Box> = {};
    for (const m of await client.list()) {
      if (m.flags.has('\\Noselect') || m.flags.has('\\NonExistent')) continue;
      const name = m.path.split(m.delimiter).join('/');
      const messages: string[] = [];
      const lock = await client.getMailboxLock(m.path, { readOnly: true });
      try {
        if (client.mailbox && client.mailbox.exists > 0) {
          for await (const msg of client.fetch('1:*', {
            envelope: true,
            internalDate: true,
            size: true,
            flags: true,
          })) {
            const flags = [...(msg.flags ?? [])].filter((f) => f !== '\\Recent').sort();
            const date = new Date(msg.internalDate ?? 0).toISOString();
            messages.push(
              `${msg.envelope?.subject} ${msg.envelope?.messageId ?? '-'} ${date} ${msg.size} ${flags.join(',')}`,
            );
          }
        }
      } finally {
        lock.release();
      }
      result[name] = {
        specialUse: m.specialUseSource === 'extension' ? (m.specialUse ?? null) : null,
        subscribed: m.subscribed,
        messages: messages.sort(),
      };
    }
    return result;
  } finally {
    await client.logout();
  }
}

beforeAll(async () => {
  const users = [alice, { user: 'bob@example.com', password: 'bob-pw' }];
  [slapd, a, b, redis] = await Promise.all([
    Slapd.start([
      { uid: 'alice', mail: alice.user, password: alice.password, mailHost: 'mbox-a' },
      { uid: 'bob', mail: 'bob@example.com', password: 'bob-pw', mailHost: 'mbox-a' },
    ]),
    Dovecot.start({
      name: 'A',
      users,
      masterUser: master,
      sieve: true,
      namespace: { specialUse: true },
    }),
    Dovecot.start({
      name: 'B',
      users,
      masterUser: master,
      sieve: true,
      namespace: { separator: '/', specialUse: true },
    }),
    RedisServer.start(),
  ]);
  // Node 2 runs two worker processes.
  for (let i = 0; i < 3; i += 1) {
    const ports = { imap: await freePort(), smtp: await freePort(), admin: await freePort() };
    const path = join(dir.path, `node${i}.yaml`);
    writeFileSync(path, `${i === 2 ? 'workers: 2\n' : ''}${config(ports)}`);
    nodes.push({ process: new NodeProcess(path), config: path, ...ports });
  }
  await Promise.all(nodes.map((n) => n.process.waitFor('homing ready', 20_000)));
  await Promise.all(nodes.map((n) => n.process.waitFor('shared state: Redis is up', 20_000)));

  // Alice's mail on A: nested folders, special-use ones, flags, keywords, old dates, a message
  // without a Message-ID and the same message twice.
  const client = await imapOn(a);
  try {
    for (const path of ['Work', 'Work.2024', 'Work.2024.Q1', 'Sent', 'Trash', 'Archive', 'Bulk'])
      await client.mailboxCreate(path);
    for (const path of ['Work', 'Work.2024.Q1', 'Sent']) await client.mailboxSubscribe(path);
    const old = new Date('2001-09-09T01:46:40Z');
    await client.append('INBOX', rfc822('m1', 'flagged'), ['\\Seen', '\\Flagged'], old);
    await client.append('INBOX', rfc822('m1', 'flagged'), ['\\Seen', '\\Flagged'], old);
    await client.append(
      'INBOX',
      rfc822('m2', 'keyword'),
      ['\\Answered', '$Important'],
      new Date('2010-01-01T00:00:00Z'),
    );
    await client.append('INBOX', rfc822(undefined, 'no id'), ['\\Seen'], old);
    await client.append('Sent', rfc822('s1', 'sent'), ['\\Seen'], new Date('2015-05-05T05:05:05Z'));
    await client.append(
      'Work.2024.Q1',
      rfc822('w1', 'deep'),
      ['projectx', '$Label1'],
      new Date('2003-03-03T03:03:03Z'),
    );
    for (let i = 0; i < 40; i += 1)
      await client.append('Bulk', rfc822(`bulk${i}`, `bulk ${i}`, 'y'.repeat(20_000)), []);
  } finally {
    await client.logout();
  }
  await putScript(a, 'vacation', scripts.vacation, false);
  await putScript(a, 'junk', scripts.junk, true);
  // B greets every user with a marker message of its own; a first move would stop on it.
  const onB = await imapOn(b);
  try {
    await onB.mailboxOpen('INBOX');
    await onB.messageDelete('1:*');
  } finally {
    await onB.logout();
  }
}, 120_000);

afterAll(async () => {
  for (const n of nodes) n.process.signal('SIGKILL');
  for (const pid of workerPids(nodes[2]?.process.output ?? '')) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all([slapd?.destroy(), a?.destroy(), b?.destroy(), redis?.destroy()]);
  dir.remove();
});

describe('homing move', () => {
  it('moves a user from A to B with everything; logins and mail wait during the freeze on both nodes, an IDLE session is kicked', async () => {
    // A session in IDLE through node 1, which also caches alice's home for ten minutes.
    const idle = await imapLogin(1);
    expect(idle.reply).toMatch(/^a OK /);
    idle.client.send('b IDLE');
    await idle.client.until(/^\+ /);
    expect(await homeSeenBy(1)).toBe('mbox-a');

    const during: Record<string, string> = {};
    const phases: string[] = [];
    const outcome = await move({ to: 'mbox-b' }, async (event) => {
      if (event.type !== 'phase') return;
      phases.push(event.phase);
      if (event.phase !== 'freeze') return;
      await idle.client.waitClosed();
      during.rcpt = (await sendMail(0, 'deferred')).rcpt;
      const login = await imapLogin(1);
      during.login = login.reply;
      login.client.close();
      // Delivered to the old home while frozen (a transaction begun before the freeze).
      a.deliverRaw(alice.user, rfc822('late', 'late'));
    });
    expect(outcome).toMatchObject({ code: 0, from: 'mbox-a', to: 'mbox-b' });
    expect(phases).toEqual([
      'connect',
      'pre-copy',
      'freeze',
      'final',
      'verify',
      'flip',
      'flush',
      'catch-up',
      'thaw',
      'end',
    ]);
    expect(during.rcpt).toMatch(/^451 4\.2\.1 /);
    expect(during.login).toMatch(/^a NO \[UNAVAILABLE\] /);

    const [there, here] = [await snapshot(a), await snapshot(b)];
    expect(here).toEqual(there);
    expect(here.INBOX?.messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^flagged <m1@example.net> 2001-09-09T01:46:40.000Z \d+ \\Flagged,\\Seen$/,
        ),
        expect.stringMatching(
          /^keyword <m2@example.net> 2010-01-01T00:00:00.000Z \d+ \$Important,\\Answered$/,
        ),
        expect.stringMatching(/^no id - /),
        expect.stringMatching(/^late <late@example.net> /),
      ]),
    );
    expect(here.INBOX?.messages.filter((m) => m.startsWith('flagged '))).toHaveLength(2);
    expect(here['Work/2024/Q1']).toEqual({
      specialUse: null,
      subscribed: true,
      messages: [expect.stringMatching(/^deep .* 2003-03-03T03:03:03.000Z \d+ \$Label1,projectx$/)],
    });
    expect(here.Sent).toMatchObject({ specialUse: '\\Sent', subscribed: true });
    expect(here.Bulk?.messages).toHaveLength(40);
    expect(sieveOf(b)).toEqual({
      scripts: { 'junk.sieve': scripts.junk, 'vacation.sieve': scripts.vacation },
      active: 'junk.sieve',
    });
    expect(sieveOf(b)).toEqual(sieveOf(a));

    // Both nodes: the directory's new home (flushed), no freeze; logins land on B.
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
    for (const n of [0, 1])
      expect(await admin(n, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    const after = await imapLogin(1);
    expect(after.reply).toMatch(/^a OK /);
    const sessions = (await admin(1, `/sessions?user=${alice.user}`)) as {
      sessions: { backend: string }[];
    };
    expect(sessions.sessions.map((s) => s.backend)).toEqual(['mbox-b']);
    after.client.close();

    // The sender's retry lands on B.
    expect(await sendMail(0, 'deferred')).toMatchObject({ rcpt: /^250 /, data: /^250 / });
    const onB = await snapshot(b);
    expect(onB.INBOX?.messages).toEqual(
      expect.arrayContaining([expect.stringMatching(/^deferred <deferred@example.net> /)]),
    );
    expect(readdirSync(join(dir.path, 'moves'))).toEqual([]);
  }, 120_000);

  it('killing the target during the copy stops the move: the user stays on the old home, thawed, nothing lost', async () => {
    // Alice is on B now; new mail there, so that a move back to A has something to copy.
    const client = await imapOn(b);
    try {
      await client.mailboxCreate('Fresh');
      for (let i = 0; i < 30; i += 1)
        await client.append('Fresh', rfc822(`fresh${i}`, `fresh ${i}`, 'z'.repeat(20_000)), []);
    } finally {
      await client.logout();
    }
    const before = await snapshot(b);
    let killed = false;
    const outcome = await move({ to: 'mbox-a' }, async (event) => {
      if (event.type === 'progress' && event.progress.copied >= 3 && !killed) {
        killed = true;
        await a.kill();
      }
    });
    expect(killed).toBe(true);
    expect(outcome.code).toBe(3);
    expect(outcome.message).toMatch(/stays on mbox-b/);
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
    expect(await admin(1, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    expect(await snapshot(b)).toEqual(before);
    const login = await imapLogin(0);
    expect(login.reply).toMatch(/^a OK /);
    login.client.close();
    expect(existsSync(join(dir.path, 'moves', 'alice%40example.com.json'))).toBe(false);
    await a.resume();
  }, 120_000);

  it('moves the user back over the old copy only with --replace-target: what was deleted on B since is gone on A too', async () => {
    const client = await imapOn(b);
    try {
      await client.mailboxOpen('Bulk');
      await client.messageDelete('1:5');
      await client.mailboxOpen('INBOX');
      await client.messageFlagsAdd('1:*', ['$Moved']);
    } finally {
      await client.logout();
    }
    await putScript(b, 'work', scripts.junk.replace('spam', 'work'), true);
    await putScript(a, 'old', scripts.junk.replace('spam', 'old'), false);
    // A's old copy holds 5 messages and a script B does not: the move stops before it changes
    // anything.
    const beforeOnA = await snapshot(a);
    const sieveBefore = sieveOf(a);
    expect(Object.keys(sieveBefore.scripts)).toContain('old.sieve');
    const phases: string[] = [];
    const stopped = await move({ to: 'mbox-a' }, (event) => {
      if (event.type === 'phase') phases.push(event.phase);
    });
    expect(stopped).toMatchObject({
      code: 3,
      message: /Bulk: 5 message\(s\) \(<bulk\d+@example\.net> .*--replace-target/,
      leftovers: [
        { mailbox: 'Bulk', count: 5 },
        { mailbox: 'Sieve', count: 1, examples: ['old'] },
      ],
    });
    expect(stopped.leftovers?.[0]?.examples).toHaveLength(3);
    expect(phases).toEqual(['connect', 'end']);
    expect(await snapshot(a)).toEqual(beforeOnA);
    expect(sieveOf(a)).toEqual(sieveBefore);
    expect(beforeOnA.Bulk?.messages).toHaveLength(40);
    expect(await admin(1, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    expect(existsSync(join(dir.path, 'moves', 'alice%40example.com.json'))).toBe(false);
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);

    const outcome = await move({ to: 'mbox-a', replaceTarget: true });
    expect(outcome).toMatchObject({ code: 0, from: 'mbox-b', to: 'mbox-a' });
    expect(outcome.warnings).toContain(
      'Bulk on mbox-a: 5 message(s) mbox-b does not hold were removed',
    );
    expect(sieveOf(a)).toEqual(sieveOf(b));
    expect(sieveOf(a)).toMatchObject({ active: 'work.sieve' });
    const [here, there] = [await snapshot(a), await snapshot(b)];
    expect(here).toEqual(there);
    expect(here.Bulk?.messages).toHaveLength(35);
    expect(here.Fresh?.messages).toHaveLength(30);
    expect(here.INBOX?.messages.every((m) => m.includes('$Moved'))).toBe(true);
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-a', 'mbox-a']);
  }, 120_000);

  it('the command: --dry-run --json changes nothing; exit 2 for no such user, 1 to abort what is not recorded', async () => {
    const cli = async (...args: string[]) => {
      try {
        const { stdout } = await run(process.execPath, [
          homingBin,
          'move',
          ...args,
          '-c',
          nodes[0]?.config as string,
        ]);
        return { code: 0, stdout };
      } catch (error) {
        const e = error as { code: number; stdout: string };
        return { code: e.code, stdout: e.stdout };
      }
    };
    const dry = await cli(alice.user, '--to', 'mbox-b', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    const outcome = JSON.parse(dry.stdout) as {
      passes: { name: string; mailboxes: { path: string; copy: number; remove: number }[] }[];
    };
    expect(outcome.passes.map((p) => p.name)).toEqual(['dry-run']);
    // B still holds what A had before the move back, less nothing: in sync but for nothing new.
    expect(outcome.passes[0]?.mailboxes.find((m) => m.path === 'Bulk')).toMatchObject({
      copy: 0,
      remove: 0,
    });
    expect(await homeSeenBy(0)).toBe('mbox-a');
    expect((await cli('nobody@example.com', '--to', 'mbox-b')).code).toBe(2);
    expect((await cli(alice.user, '--abort')).code).toBe(1);
  }, 60_000);

  it('a message that reaches the target during the move is never removed by a later pass: verify stops the move', async () => {
    const stray = rfc822('stray', 'stray', 'delivered to B by someone else');
    const outcome = await move({ to: 'mbox-b' }, async (event) => {
      if (event.type !== 'phase' || event.phase !== 'freeze') return;
      const client = await imapOn(b);
      try {
        await client.append('INBOX', stray, []);
      } finally {
        await client.logout();
      }
    });
    expect(outcome).toMatchObject({ code: 4, message: /stays on mbox-a: INBOX/ });
    const final = outcome.passes.find((p) => p.name === 'final');
    expect(final?.mailboxes.find((m) => m.path === 'INBOX')).toMatchObject({
      remove: 0,
      leftover: 1,
    });
    expect((await snapshot(b)).INBOX?.messages.filter((m) => m.startsWith('stray '))).toHaveLength(
      1,
    );
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-a', 'mbox-a']);
    expect(await admin(1, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    // The next move would stop on it: take it away for the tests below.
    const client = await imapOn(b);
    try {
      await client.mailboxOpen('INBOX');
      const uids = await client.search({ subject: 'stray' }, { uid: true });
      await client.messageDelete((uids || []).join(','), { uid: true });
    } finally {
      await client.logout();
    }
  }, 120_000);

  it('a move whose clean-up failed after the flip is finished by --resume', async () => {
    const outcome = await move({ to: 'mbox-b' }, (event) => {
      if (event.type === 'phase' && event.phase === 'flush') throw new Error('mover lost');
    });
    expect(outcome).toMatchObject({ code: 5, message: /is on mbox-b now.*--resume/ });
    const record = join(dir.path, 'moves', 'alice%40example.com.json');
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ phase: 'flipped' });
    // Still frozen: nothing reaches either home until the clean-up is done.
    const frozen = (await admin(1, `/users/frozen?user=${alice.user}`)) as { frozen_ms: number };
    expect(frozen.frozen_ms).toBeGreaterThan(0);
    expect((await move({ to: 'mbox-b' })).code).toBe(6);
    expect(await move({ resume: true })).toMatchObject({ code: 0, to: 'mbox-b' });
    expect(existsSync(record)).toBe(false);
    expect(await admin(1, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
    expect(await snapshot(b)).toEqual(await snapshot(a));
  }, 120_000);

  it('--abort of a move a dead mover left frozen thaws the user and forgets the move', async () => {
    const record = join(dir.path, 'moves', 'alice%40example.com.json');
    const now = new Date().toISOString();
    writeFileSync(
      record,
      JSON.stringify({
        user: alice.user,
        login: alice.user,
        from: 'mbox-b',
        to: 'mbox-a',
        phase: 'frozen',
        started: now,
        updated: now,
      }),
    );
    await fetch(`http://127.0.0.1:${nodes[0]?.admin}/users/freeze`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ user: alice.user }),
    });
    expect((await imapLogin(1)).reply).toMatch(/^a NO \[UNAVAILABLE\] /);
    expect(await move({ abort: true })).toMatchObject({ code: 0, message: /stays on mbox-b/ });
    expect(existsSync(record)).toBe(false);
    const login = await imapLogin(1);
    expect(login.reply).toMatch(/^a OK /);
    login.client.close();
  }, 60_000);

  it('the admin API runs a move in the node, reports its phases, and deletes the old copy when asked', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${nodes[1]?.admin}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    // A script only A holds: the move would stop on it without replace_target.
    await putScript(a, 'stale', scripts.vacation, false);
    const started = await post('/moves/start', {
      user: alice.user,
      to: 'mbox-a',
      delete_source: true,
      replace_target: true,
    });
    expect(started.status).toBe(202);
    expect((await post('/moves/start', { user: alice.user, to: 'mbox-a' })).status).toBe(409);
    let job: { running: boolean; events: { phase?: string }[]; outcome?: { code: number } };
    do {
      await new Promise((r) => setTimeout(r, 100));
      job = (await admin(1, `/moves?user=${alice.user}`)).move as typeof job;
    } while (job.running);
    expect(job.outcome).toMatchObject({ code: 0, from: 'mbox-b', to: 'mbox-a' });
    expect(job.events.map((e) => e.phase)).toContain('delete-source');
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-a', 'mbox-a']);
    const left = await snapshot(b);
    expect(Object.keys(left)).toEqual(['INBOX']);
    expect(left.INBOX?.messages).toEqual([]);
    expect(sieveOf(b)).toEqual({ scripts: {}, active: null });
    expect(Object.keys(sieveOf(a).scripts).sort()).toEqual([
      'junk.sieve',
      'vacation.sieve',
      'work.sieve',
    ]);
    expect((await snapshot(a)).Bulk?.messages).toHaveLength(35);
  }, 120_000);

  it('a mover killed during the pre-copy: --resume reads back what it copied and completes the move', async () => {
    const record = join(dir.path, 'moves', 'alice%40example.com.json');
    expect(await moverThatDies('mbox-b', 'copied:10')).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ phase: 'copying' });
    expect(readFileSync(record.replace(/\.json$/, '.seen'), 'utf8')).not.toBe('');
    // The user, never frozen, deletes on A a message the dead mover had copied to B: on B it
    // is now one A lacks, this move's copy only by what the .seen file remembers.
    const [box, id] = Object.entries(await snapshot(b))
      .flatMap(([name, box]) =>
        box.messages.map((m) => [name, / <((bulk|fresh)\d+)@/.exec(m)?.[1]]),
      )
      .find(([, id]) => id !== undefined) as [string, string];
    expect(id).toBeDefined();
    const client = await imapOn(a);
    try {
      await client.mailboxOpen(box);
      const uids = await client.search(
        { header: { 'message-id': `<${id}@example.net>` } },
        { uid: true },
      );
      expect(uids).toHaveLength(1);
      await client.messageDelete((uids || []).join(','), { uid: true });
    } finally {
      await client.logout();
    }
    expect((await move({ to: 'mbox-b' })).code).toBe(6);
    const outcome = await move({ resume: true });
    expect(outcome).toMatchObject({ code: 0, from: 'mbox-a', to: 'mbox-b' });
    expect(existsSync(record)).toBe(false);
    const here = await snapshot(b);
    expect(here).toEqual(await snapshot(a));
    expect(here[box]?.messages.some((m) => m.includes(`<${id}@`))).toBe(false);
    expect(sieveOf(b)).toEqual(sieveOf(a));
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
    expect(await admin(1, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
  }, 120_000);

  it('a mover killed after the pre-copy, with the user frozen: --abort leaves the user on the old home, thawed, nothing lost', async () => {
    const client = await imapOn(b);
    try {
      await client.mailboxCreate('Later');
      for (let i = 0; i < 10; i += 1)
        await client.append('Later', rfc822(`later${i}`, `later ${i}`), ['\\Seen']);
    } finally {
      await client.logout();
    }
    const before = await snapshot(b);
    const sieveBefore = sieveOf(b);
    const record = join(dir.path, 'moves', 'alice%40example.com.json');
    expect(await moverThatDies('mbox-a', 'freeze')).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ phase: 'frozen' });
    expect((await snapshot(a)).Later?.messages).toHaveLength(10);
    expect((await imapLogin(1)).reply).toMatch(/^a NO \[UNAVAILABLE\] /);
    expect(await move({ abort: true })).toMatchObject({ code: 0, message: /stays on mbox-b/ });
    expect(existsSync(record)).toBe(false);
    expect(existsSync(record.replace(/\.json$/, '.seen'))).toBe(false);
    for (const n of [0, 1])
      expect(await admin(n, `/users/frozen?user=${alice.user}`)).toMatchObject({ frozen_ms: 0 });
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
    expect(await snapshot(b)).toEqual(before);
    expect(sieveOf(b)).toEqual(sieveBefore);
    const login = await imapLogin(1);
    expect(login.reply).toMatch(/^a OK /);
    const sessions = (await admin(1, `/sessions?user=${alice.user}`)) as {
      sessions: { backend: string }[];
    };
    expect(sessions.sessions.map((s) => s.backend)).toEqual(['mbox-b']);
    login.client.close();
  }, 120_000);

  it("a later pass never activates the target's own script of the active script's name", async () => {
    const other = scripts.vacation.replace('Monday', 'Friday');
    const outcome = await move({ to: 'mbox-a' }, async (event) => {
      if (event.type !== 'phase' || event.phase !== 'freeze') return;
      // After the pre-copy: the user's new active script on B, and one of the same name that
      // someone else put on A.
      await putScript(b, 'late', scripts.junk.replace('spam', 'late'), true);
      await putScript(a, 'late', other, false);
    });
    expect(outcome).toMatchObject({ code: 4, message: /stays on mbox-b: .*Sieve scripts/ });
    const final = outcome.passes.find((p) => p.name === 'final');
    expect(final?.sieve).toMatchObject({ leftover: ['late'], activate: true });
    expect(sieveOf(a).scripts['late.sieve']).toBe(other);
    expect(sieveOf(a).active).not.toBe('late.sieve');
    expect(sieveOf(b).active).toBe('late.sieve');
    expect([await homeSeenBy(0), await homeSeenBy(1)]).toEqual(['mbox-b', 'mbox-b']);
  }, 120_000);

  it('a move through the admin API of a node with two workers: every worker then routes the user to the new home', async () => {
    // Six logins through node 2, spread over its workers by the kernel.
    const logins = async () => {
      const all = await Promise.all([0, 1, 2, 3, 4, 5].map(() => imapLogin(2)));
      for (const l of all) expect(l.reply).toMatch(/^a OK /);
      const { sessions } = (await admin(2, `/sessions?user=${alice.user}`)) as {
        sessions: { backend: string }[];
      };
      for (const l of all) l.client.close();
      return sessions.map((s) => s.backend);
    };
    expect(workerPids(nodes[2]?.process.output ?? '')).toHaveLength(2);
    // The primary asks every worker: each caches B as alice's home, whichever logins reach.
    expect(await homeSeenBy(2)).toBe('mbox-b');
    expect(await logins()).toEqual(Array(6).fill('mbox-b'));
    const started = await fetch(`http://127.0.0.1:${nodes[2]?.admin}/moves/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      // A holds the script someone else put there (the test above).
      body: JSON.stringify({ user: alice.user, to: 'mbox-a', replace_target: true }),
    });
    expect(started.status).toBe(202);
    let job: { running: boolean; outcome?: { code: number } };
    do {
      await new Promise((r) => setTimeout(r, 100));
      job = (await admin(2, `/moves?user=${alice.user}`)).move as typeof job;
    } while (job.running);
    expect(job.outcome).toMatchObject({ code: 0, from: 'mbox-b', to: 'mbox-a' });
    expect(await logins()).toEqual(Array(6).fill('mbox-a'));
    expect([await homeSeenBy(0), await homeSeenBy(1), await homeSeenBy(2)]).toEqual([
      'mbox-a',
      'mbox-a',
      'mbox-a',
    ]);
    expect(await snapshot(a)).toEqual(await snapshot(b));
  }, 120_000);
});
