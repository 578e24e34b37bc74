import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodePlain, encodeProxyV2 } from '@homing/proxy-core';
import { RawClient } from '@homing/testkit';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, limits, password } from './cluster.js';

const run = promisify(execFile);
const plain = (authzid: string, user: string, password: string) =>
  encodePlain(authzid, user, password).toString('base64');
let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
});

afterAll(async () => {
  await cluster?.destroy();
});

async function connect(
  port = cluster.ports.plain,
  options: Partial<Parameters<typeof RawClient.connect>[0]> = {},
) {
  const client = await RawClient.connect({ port, ...options });
  await client.until(/^\* OK /);
  return client;
}

/** Logs in with LOGIN and reads the marker subject of message 1. */
async function markerAfter(client: RawClient, loginLine: string): Promise<string> {
  client.send(loginLine);
  const login = await client.until(/^a OK /);
  expect(login.at(-1)).toMatch(/^a OK \[CAPABILITY IMAP4rev1 /);
  client.send('b SELECT INBOX');
  await client.until(/^b OK /);
  client.send('c FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]');
  const fetched = await client.until(/^c OK /);
  client.send('d LOGOUT');
  await client.waitClosed();
  return fetched.find((l) => l.startsWith('Subject:')) ?? '';
}

describe('logging in lands each user on their own backend', () => {
  it.each([
    ['atom', 'a LOGIN alice@example.com alice-pw', 'A'],
    ['quoted', 'a LOGIN "bob@example.com" "bob-pw"', 'B'],
  ])('LOGIN with %s strings', async (_name, line, backend) => {
    const client = await connect();
    expect(await markerAfter(client, line)).toBe(`Subject: You are on backend ${backend}`);
  });

  it('LOGIN with synchronizing literals', async () => {
    const client = await connect();
    client.send('a LOGIN {17}');
    await client.until(/^\+ /);
    client.send('alice@example.com {8}');
    await client.until(/^\+ /);
    expect(await markerAfter(client, 'alice-pw')).toContain('backend A');
  });

  it('LOGIN with non-synchronizing literals (LITERAL+)', async () => {
    const client = await connect();
    client.write('a LOGIN {15+}\r\nbob@example.com {6+}\r\n');
    expect(await markerAfter(client, 'bob-pw')).toContain('backend B');
  });

  it('AUTHENTICATE PLAIN with SASL-IR', async () => {
    const client = await connect();
    const line = `a AUTHENTICATE PLAIN ${plain('', 'bob@example.com', 'bob-pw')}`;
    expect(await markerAfter(client, line)).toContain('backend B');
  });

  it('AUTHENTICATE PLAIN with a continuation', async () => {
    const client = await connect();
    client.send('a AUTHENTICATE PLAIN');
    await client.until(/^\+/);
    expect(await markerAfter(client, plain('', 'alice@example.com', 'alice-pw'))).toContain(
      'backend A',
    );
  });

  it('AUTHENTICATE cancelled with *', async () => {
    const client = await connect();
    client.send('a AUTHENTICATE PLAIN');
    await client.until(/^\+/);
    client.send('*');
    expect((await client.until(/^a /)).at(-1)).toMatch(/^a BAD /);
    client.close();
  });

  it('a master login when the password was checked by LDAP bind', async () => {
    // carol's home has master credentials: her LDAP password is checked, not Dovecot's.
    const client = await connect();
    expect(await markerAfter(client, 'a LOGIN carol@example.com carol-ldap-pw')).toContain(
      'backend A',
    );
    const wrong = await connect();
    wrong.send('a LOGIN carol@example.com carol-pw');
    expect((await wrong.until(/^a /)).at(-1)).toBe(
      'a NO [AUTHENTICATIONFAILED] Authentication failed.',
    );
    wrong.close();
  });

  it('through curl', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '--max-time',
      '10',
      '--url',
      `imap://127.0.0.1:${cluster.ports.plain}/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)`,
      '--user',
      'bob@example.com:bob-pw',
    ]);
    expect(stdout).toContain('Subject: You are on backend B');
  });
});

describe('after the splice the backend answers everything', () => {
  it('imapflow: SELECT, FETCH, APPEND, IDLE and COMPRESS=DEFLATE', async () => {
    const flow = new ImapFlow({
      host: '127.0.0.1',
      port: cluster.ports.plain,
      secure: false,
      doSTARTTLS: true,
      tls: { ca: cluster.certs.caCertPem, servername: 'localhost' },
      auth: { user: 'alice@example.com', pass: password('alice@example.com') },
      logger: false,
    });
    await flow.connect();
    try {
      expect(flow.capabilities.has('COMPRESS=DEFLATE')).toBe(true);
      expect(flow.capabilities.has('IDLE')).toBe(true);
      const lock = await flow.getMailboxLock('INBOX');
      try {
        const first = await flow.fetchOne('1', { envelope: true });
        expect(first ? first.envelope?.subject : undefined).toBe('You are on backend A');
        await flow.append('INBOX', 'Subject: appended through homing\r\n\r\nhello\r\n');
        const exists = new Promise<number>((resolve) =>
          flow.once('exists', (e: { count: number }) => resolve(e.count)),
        );
        const idle = flow.idle();
        cluster.a.deliverRaw('alice@example.com', 'Subject: arrives during IDLE\n\nhi\n');
        expect(await exists).toBeGreaterThanOrEqual(3);
        await flow.noop();
        await idle;
        const subjects: string[] = [];
        for await (const m of flow.fetch('1:*', { envelope: true }))
          subjects.push(m.envelope?.subject ?? '');
        expect(subjects).toContain('appended through homing');
        expect(subjects).toContain('arrives during IDLE');
      } finally {
        lock.release();
      }
    } finally {
      await flow.logout();
    }
  });
});

describe('TLS', () => {
  it('STARTTLS, then login; bytes pipelined after STARTTLS are dropped', async () => {
    const client = await connect();
    client.write('s STARTTLS\r\nx LOGIN bob@example.com bob-pw\r\n');
    await client.until(/^s OK /);
    await client.startTls(cluster.certs.caCertPem);
    client.send('c CAPABILITY');
    const caps = await client.until(/^c OK /);
    expect(caps[0]).toContain('AUTH=PLAIN');
    expect(caps[0]).not.toContain('STARTTLS');
    client.send('n NOOP');
    const noop = await client.until(/^n /);
    expect(noop.some((l) => l.startsWith('x '))).toBe(false); // the injected LOGIN never ran
    expect(await markerAfter(client, 'a LOGIN bob@example.com bob-pw')).toContain('backend B');
  });

  it('implicit TLS', async () => {
    const client = await connect(cluster.ports.implicit, { tls: { ca: cluster.certs.caCertPem } });
    expect(await markerAfter(client, 'a LOGIN alice@example.com alice-pw')).toContain('backend A');
  });

  it('refuses plaintext logins before STARTTLS where not allowed', async () => {
    const client = await RawClient.connect({ port: cluster.ports.strict });
    const [greeting] = await client.until(/^\* OK /);
    expect(greeting).toContain('LOGINDISABLED');
    expect(greeting).toContain('STARTTLS');
    expect(greeting).not.toContain('AUTH=PLAIN');
    client.send('a LOGIN bob@example.com bob-pw');
    expect((await client.until(/^a /)).at(-1)).toMatch(/^a NO \[PRIVACYREQUIRED\]/);
    client.close();
  });
});

describe('PROXY protocol in', () => {
  it.each([
    ['v1', Buffer.from('PROXY TCP4 192.0.2.71 127.0.0.1 40001 143\r\n'), '192.0.2.71'],
    [
      'v2',
      encodeProxyV2({ address: '192.0.2.72', port: 40002 }, { address: '127.0.0.1', port: 143 }),
      '192.0.2.72',
    ],
  ])(
    '%s: the real client address reaches Dovecot and homing logs',
    async (_v, preamble, address) => {
      const client = await connect(cluster.ports.proxied, { preamble });
      await markerAfter(client, 'a LOGIN bob@example.com bob-pw');
      await expect.poll(() => cluster.b.log()).toContain(`rip=${address}`);
      expect(cluster.logged(`"client":"${address}"`).length).toBeGreaterThan(0);
    },
  );

  it('closes a connection without the header', async () => {
    const client = await RawClient.connect({ port: cluster.ports.proxied });
    client.send('a LOGIN bob@example.com bob-pw');
    await client.waitClosed();
  });
});

describe('failures', () => {
  async function attempt(line: string) {
    const client = await connect();
    const started = performance.now();
    client.send(line);
    const reply = (await client.until(/^a /)).at(-1);
    const ms = performance.now() - started;
    client.close();
    return { reply, ms };
  }

  it('unknown user and wrong password look the same, in reply and in time', async () => {
    const unknown = await attempt('a LOGIN nobody@example.com whatever');
    const wrong = await attempt('a LOGIN alice@example.com wrong-pw');
    expect(unknown.reply).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed.');
    expect(wrong.reply).toBe(unknown.reply);
    expect(unknown.ms).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 5);
    expect(wrong.ms).toBeGreaterThanOrEqual(limits.failedLoginDelayMs - 5);
    expect(Math.abs(unknown.ms - wrong.ms)).toBeLessThan(300);
  });

  it('backend down: UNAVAILABLE within a second', async () => {
    const { reply, ms } = await attempt('a LOGIN gone@example.com x');
    expect(reply).toBe('a NO [UNAVAILABLE] Temporary failure, try again later.');
    expect(ms).toBeLessThan(1000);
  });

  it('a route that points back at homing is refused as a loop', async () => {
    const { reply } = await attempt('a LOGIN loop@example.com x');
    expect(reply).toMatch(/^a NO \[UNAVAILABLE\]/);
    expect(cluster.logged('route loop').length).toBeGreaterThan(0);
  });

  it('slapd down: cached users still log in, uncached ones get UNAVAILABLE', async () => {
    const warm = await connect();
    await markerAfter(warm, 'a LOGIN bob@example.com bob-pw');
    await cluster.slapd.kill();
    try {
      const cached = await connect();
      expect(await markerAfter(cached, 'a LOGIN bob@example.com bob-pw')).toContain('backend B');
      const { reply } = await attempt('a LOGIN nobody2@example.com x');
      expect(reply).toMatch(/^a NO \[UNAVAILABLE\]/);
    } finally {
      await cluster.slapd.resume();
    }
  });

  it('kick by user closes the spliced session', async () => {
    const client = await connect();
    client.send('a LOGIN bob@example.com bob-pw');
    await client.until(/^a OK /);
    expect(cluster.registry.list({ user: 'bob@example.com' }).length).toBeGreaterThan(0);
    expect(cluster.registry.kick('bob@example.com')).toBeGreaterThan(0);
    await client.waitClosed();
    await expect.poll(() => cluster.registry.list({ user: 'bob@example.com' }).length).toBe(0);
  });
});

describe('hostile input before login', () => {
  it.each([
    ['a literal claiming 4 GB', 'a LOGIN {4294967296}', /^a BAD \[TOOBIG\]/, false],
    [
      'a non-synchronizing literal claiming 4 GB',
      'a LOGIN {4294967296+}',
      /^a BAD \[TOOBIG\]/,
      true,
    ],
    ['NUL bytes', 'a LOGIN al\u0000ice pw', /^a BAD /, false],
    ['an unbalanced quote', 'a LOGIN "alice pw', /^a BAD /, false],
    ['an unknown command', 'a SELECT INBOX', /^a BAD /, false],
    ['AUTHENTICATE with bad base64', 'a AUTHENTICATE PLAIN !!!!', /^a BAD Invalid base64/, false],
    ['AUTHENTICATE with an unknown mechanism', 'a AUTHENTICATE CRAM-MD5', /^a NO /, false],
  ])('%s', async (_name, line, reply, closes) => {
    const client = await connect();
    client.send(line);
    expect((await client.until(reply)).at(-1)).toMatch(reply);
    if (closes) await client.waitClosed();
    else {
      client.send('z NOOP');
      await client.until(/^z OK/);
      client.close();
    }
  });

  it('an ID as large as RFC 2971 allows (30 pairs, 30 and 1024 octets)', async () => {
    const client = await connect();
    const pairs = Array.from(
      { length: 30 },
      (_, i) => `"${`field${i}`.padEnd(30, '-')}" "${'v'.repeat(1024)}"`,
    );
    client.write(`i ID (${pairs.join(' ')})\r\n`);
    expect((await client.until(/^i /)).at(-1)).toMatch(/^i OK /);
    expect(await markerAfter(client, 'a LOGIN alice@example.com alice-pw')).toContain('backend A');
  });

  it('an ID past its allowance is refused, and the session goes on', async () => {
    const client = await connect();
    client.write(`i ID ("name" "${'v'.repeat(limits.idLineBytes + 1)}")\r\n`);
    expect((await client.until(/^i /)).at(-1)).toMatch(/^i BAD \[TOOBIG\] ID too long/);
    client.send('z NOOP');
    await client.until(/^z OK/);
    client.close();
  });

  it('a 1 MB line', async () => {
    const client = await connect();
    client.write(`a LOGIN ${'x'.repeat(1024 * 1024)}\r\n`);
    expect((await client.until(/BAD/)).at(-1)).toMatch(/BAD \[TOOBIG\] Line too long/);
    await client.waitClosed();
  });

  it('10,000 pipelined NOOPs', async () => {
    const client = await connect();
    client.write('n NOOP\r\n'.repeat(10_000));
    const lines = await client.until(/^\* BYE /);
    expect(lines.filter((l) => l === 'n OK NOOP completed')).toHaveLength(limits.commands);
    await client.waitClosed();
  });

  it('a slow sender that never finishes a line is timed out', async () => {
    const client = await connect();
    client.write('a LOGIN ali');
    await client.until(/^\* BYE Autologout; idle/, limits.idleTimeoutMs + 2000);
    await client.waitClosed();
  });

  it('a client that trickles a line, byte by byte, is closed at the line deadline', async () => {
    const client = await connect();
    const line = 'a LOGIN alice@example.com and on and on and on and on and on';
    const started = performance.now();
    for (let i = 0; !client.closed && i < line.length; i += 1) {
      client.write(line[i] as string);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await client.waitClosed();
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(limits.lineTimeoutMs - 100);
    expect(ms).toBeLessThan(limits.lineTimeoutMs + 1500);
  });

  it('homing still serves new connections afterwards, and holds no session for them', async () => {
    const client = await connect();
    expect(await markerAfter(client, 'a LOGIN alice@example.com alice-pw')).toContain('backend A');
    await expect.poll(() => cluster.registry.size).toBe(0);
  });
});

describe('a client that half-closes before login', () => {
  it('is closed at once, not held until the idle timeout', async () => {
    const client = await connect();
    client.socket.end();
    const started = Date.now();
    await client.waitClosed(limits.idleTimeoutMs / 2);
    expect(Date.now() - started).toBeLessThan(limits.idleTimeoutMs / 2);
  });
});

describe('logs', () => {
  it('never contain a password, plain or base64', () => {
    const text = cluster.log.join('\n');
    expect(text.length).toBeGreaterThan(1000);
    for (const secret of ['alice-pw', 'bob-pw', 'carol-ldap-pw', 'master-pw', 'wrong-pw']) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString('base64').slice(0, 8));
    }
    expect(text).not.toContain(plain('', 'bob@example.com', 'bob-pw'));
  });
});
