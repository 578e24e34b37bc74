import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Dovecot, freePort, MariaDb, Postgres, RawClient, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homingBin, NodeProcess } from './node-process.js';

// homing with its users in a real PostgreSQL, then a real MariaDB, in front of two Dovecots.
const run = promisify(execFile);

/** Written by `doveadm pw`: carol's master-user backend checks this hash, not Dovecot's. */
const carolHash =
  '{SHA512-CRYPT}$6$xHZeLPMr7KZn.FAZ$0RmgBUFYTWV.8DETp3V2jrYcMdXhEZwNRKNdiOrRk0DDOarQVkT.vhUCT8CyhMbd4.lDCruxJDUmsjfF1T.hK1';

const tables = `
CREATE TABLE mailbox (
  username VARCHAR(255) PRIMARY KEY,
  password VARCHAR(255) NOT NULL,
  home VARCHAR(255),
  active BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE alias (address VARCHAR(255) NOT NULL, goto VARCHAR(255) NOT NULL, PRIMARY KEY (address, goto));
INSERT INTO mailbox (username, password, home) VALUES
  ('alice@example.com', 'unused', 'mbox-a'),
  ('bob@example.com', 'unused', 'mbox-b'),
  ('carol@example.com', '${carolHash}', 'mbox-a-master');
INSERT INTO alias (address, goto) VALUES
  ('alice@example.com', 'alice@example.com'),
  ('bob@example.com', 'bob@example.com'),
  ('carol@example.com', 'carol@example.com'),
  ('ally@example.com', 'alice@example.com');
`;

let a: Dovecot;
let b: Dovecot;
const dir = tempDir('sql-e2e');

beforeAll(async () => {
  const users = (names: string[]) =>
    names.map((u) => ({ user: u, password: `${u.split('@')[0]}-pw` }));
  [a, b] = await Promise.all([
    Dovecot.start({
      name: 'A',
      users: users(['alice@example.com', 'carol@example.com']),
      masterUser: { user: 'homing-master', password: 'master-pw' },
    }),
    Dovecot.start({ name: 'B', users: users(['bob@example.com']) }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  dir.remove();
});

interface Database {
  url(): string;
  exec(sql: string): void;
  destroy(): Promise<void>;
}

describe.each([
  ['PostgreSQL', (): Promise<Database> => Postgres.start()],
  ['MariaDB', (): Promise<Database> => MariaDb.start()],
])('homing with users in %s', (name, start) => {
  let db: Database;
  let node: NodeProcess;
  let config: string;
  const ports = { imap: 0, pop3: 0 };

  beforeAll(async () => {
    db = await start();
    db.exec(tables);
    ports.imap = await freePort();
    ports.pop3 = await freePort();
    config = join(dir.path, `${name}.yaml`);
    const backend = (d: Dovecot) =>
      `{ host: 127.0.0.1, imap: { port: ${d.imapPort} }, pop3: { port: ${d.pop3Port} } }`;
    writeFileSync(
      config,
      `log: { level: info, format: json }
directory:
  source: sql
  sql:
    url: ${db.url()}
    query: >-
      SELECT m.home, m.username AS login FROM alias a JOIN mailbox m ON m.username = a.goto
      WHERE a.address = :address AND m.active
    password_query: SELECT password FROM mailbox WHERE username = :address
listeners:
  - { protocol: imap, listen: 127.0.0.1:${ports.imap}, tls: none, allow_plaintext_auth: true }
  - { protocol: pop3, listen: 127.0.0.1:${ports.pop3}, tls: none, allow_plaintext_auth: true }
limits: { failed_login_delay: 0s }
backends:
  mbox-a: ${backend(a)}
  mbox-b: ${backend(b)}
  mbox-a-master:
    host: 127.0.0.1
    imap: { port: ${a.imapPort} }
    pop3: { port: ${a.pop3Port} }
    master: { user: homing-master, password: master-pw }
`,
    );
    node = new NodeProcess(config);
    await node.waitFor('homing ready');
  }, 90_000);

  afterAll(async () => {
    node?.signal('SIGKILL');
    await db?.destroy();
  });

  async function imapMarker(user: string, password: string): Promise<string> {
    const client = await RawClient.connect({ port: ports.imap });
    await client.until(/^\* OK /);
    client.send(`a LOGIN ${user} ${password}`);
    const login = (await client.until(/^a /)).at(-1) as string;
    if (!login.startsWith('a OK')) {
      client.close();
      return login;
    }
    client.send('b SELECT INBOX');
    await client.until(/^b OK /);
    client.send('c FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]');
    const fetched = await client.until(/^c OK /);
    client.send('d LOGOUT');
    await client.waitClosed();
    return fetched.find((l) => l.startsWith('Subject:')) ?? '';
  }

  it.each([
    ['alice@example.com', 'A', 'alice-pw'],
    ['bob@example.com', 'B', 'bob-pw'],
    ['ally@example.com', 'A', 'alice-pw'],
  ])('IMAP: %s lands on backend %s', async (user, backend, password) => {
    expect(await imapMarker(user, password)).toBe(`Subject: You are on backend ${backend}`);
  });

  it('IMAP: a master-user home takes the password checked against the SQL hash', async () => {
    expect(await imapMarker('carol@example.com', 'carol-sql-pw')).toBe(
      'Subject: You are on backend A',
    );
    expect(await imapMarker('carol@example.com', 'carol-pw')).toMatch(
      /^a NO \[AUTHENTICATIONFAILED\]/,
    );
  });

  it('IMAP: an unknown user or an injection attempt is refused like a wrong password', async () => {
    for (const user of ['nobody@example.com', `"x' OR 1=1 --@example.com"`]) {
      expect(await imapMarker(user, 'alice-pw')).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
    }
  });

  it.each([
    ['bob@example.com', 'B', 'bob-pw'],
    ['ally@example.com', 'A', 'alice-pw'],
  ])('POP3: %s lands on backend %s', async (user, backend, password) => {
    const client = await RawClient.connect({ port: ports.pop3 });
    await client.until(/^\+OK/);
    client.send(`USER ${user}`);
    await client.until(/^\+OK/);
    client.send(`PASS ${password}`);
    expect((await client.until(/^[+-]/)).at(-1)).toMatch(/^\+OK/);
    client.send('TOP 1 0');
    const top = await client.until(/^\.$/);
    expect(top).toContain(`Subject: You are on backend ${backend}`);
    client.send('QUIT');
    await client.waitClosed();
  });

  it('homing lookup says the answer came from sql', async () => {
    const { stdout } = await run(process.execPath, [
      homingBin,
      'lookup',
      '--json',
      '-c',
      config,
      'ally@example.com',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      origin: 'sql',
      login: 'alice@example.com',
      home: 'mbox-a',
    });
  });

  it('check-config names the database, never its password', async () => {
    const { stdout } = await run(process.execPath, [homingBin, 'check-config', '-c', config]);
    expect(stdout).toContain('directory: sql');
    expect(stdout).toMatch(/sql: 127\.0\.0\.1:\d+\/mail \(passwords checked by password_query\)/);
    expect(stdout).not.toContain('homing-secret');
  });

  it('logs no password', () => {
    for (const secret of ['alice-pw', 'bob-pw', 'carol-sql-pw', 'master-pw', 'homing-secret']) {
      expect(node.output).not.toContain(secret);
    }
  });
});
