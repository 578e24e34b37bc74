import { connect as netConnect, type Socket } from 'node:net';
import { createServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Certificates, Dovecot, makeCertificates, tempDir } from '../src/index.js';

/** A line-oriented client conversation over a raw socket, which STARTTLS can upgrade. */
class Conversation {
  #socket: Socket;
  #buffer = '';
  #closed = false;
  #wake: () => void = () => {};

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  static async plain(port: number): Promise<Conversation> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Conversation(socket);
  }

  static async tls(port: number, ca: string): Promise<Conversation> {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await secured(socket);
    return new Conversation(socket);
  }

  get socket(): Socket {
    return this.#socket;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  /** Waits until the received text matches; returns it up to the end of the match, consumed. */
  async expect(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.#buffer);
      if (match) {
        const end = match.index + match[0].length;
        const text = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        return text;
      }
      if (this.#closed) throw new Error(`closed before ${pattern}; got ${this.#buffer}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}; got ${this.#buffer}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends a tagged IMAP command; resolves with everything up to its tagged OK. */
  async imap(tag: string, command: string): Promise<string> {
    this.send(`${tag} ${command}`);
    const text = await this.expect(new RegExp(`^${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`, 'm'));
    expect(text).toMatch(new RegExp(`^${tag} OK`, 'm'));
    return text;
  }

  async startTls(ca: string): Promise<TLSSocket> {
    const raw = this.#socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const socket = tlsConnect({ socket: raw, ca, servername: 'localhost' });
    await secured(socket);
    this.#socket = socket;
    this.#listen(socket);
    return socket;
  }

  close(): void {
    this.#socket.destroy();
  }

  #listen(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }
}

function secured(socket: TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
}

const users = [
  { user: 'alice', password: 'alice-pw' },
  { user: 'bob', password: 'bob-pw' },
];
const master = { user: 'master', password: 'master-pw' };

let certDir: ReturnType<typeof tempDir>;
let certs: Certificates;
let dovecot: Dovecot;

beforeAll(async () => {
  certDir = tempDir('certs');
  certs = makeCertificates(certDir.path, ['imap.example.com']);
  dovecot = await Dovecot.start({
    name: 'A',
    users,
    tls: certs,
    masterUser: master,
    haproxy: true,
  });
});

afterAll(async () => {
  await dovecot?.destroy();
  certDir?.remove();
});

async function loggedIn(port: number, login = 'alice', password = 'alice-pw') {
  const c = await Conversation.plain(port);
  await c.expect(/^\* OK .*\r\n/);
  await c.imap('a1', `LOGIN ${login} ${password}`);
  return c;
}

describe('makeCertificates', () => {
  it('makes a server certificate that node:tls verifies against the CA', async () => {
    const server = createServer({ cert: certs.certPem, key: certs.keyPem }, (s) => s.end('hi\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const attempt = (options: { servername?: string; ca?: string }) =>
      new Promise<TLSSocket>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ...options });
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      });
    try {
      for (const servername of ['localhost', 'imap.example.com', undefined]) {
        const socket = await attempt({ servername, ca: certs.caCertPem });
        expect(socket.authorized).toBe(true);
        socket.destroy();
      }
      await expect(
        attempt({ servername: 'other.example.com', ca: certs.caCertPem }),
      ).rejects.toThrow(/altnames|does not match/i);
      await expect(attempt({ servername: 'localhost' })).rejects.toThrow(/certificate/i);
    } finally {
      server.close();
    }
  });
});

describe('Dovecot', () => {
  it('listens on distinct loopback ports', () => {
    const ports = [
      dovecot.imapPort,
      dovecot.imapsPort,
      dovecot.pop3Port,
      dovecot.pop3sPort,
      dovecot.lmtpPort,
      dovecot.imapProxyPort,
      dovecot.pop3ProxyPort,
    ];
    expect(ports.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    expect(new Set(ports).size).toBe(ports.length);
    expect(dovecot.running).toBe(true);
  });

  it('logs users in over IMAP, each INBOX holding the marker message', async () => {
    const c = await loggedIn(dovecot.imapPort);
    const select = await c.imap('a2', 'SELECT INBOX');
    expect(select).toMatch(/^\* 1 EXISTS/m);
    const fetch = await c.imap('a3', 'FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]');
    expect(fetch).toContain('Subject: You are on backend A');
    await c.imap('a4', 'LOGOUT');
    c.close();
    const bob = await Conversation.plain(dovecot.imapPort);
    await bob.expect(/^\* OK .*\r\n/);
    bob.send('b1 LOGIN bob wrong');
    await bob.expect(/^b1 NO .*\r\n/m);
    bob.close();
  });

  it('offers STARTTLS on the plain IMAP port with a certificate from the test CA', async () => {
    const c = await Conversation.plain(dovecot.imapPort);
    expect(await c.expect(/^\* OK .*\r\n/)).toContain('STARTTLS');
    await c.imap('t1', 'STARTTLS');
    const socket = await c.startTls(certs.caCertPem);
    expect(socket.authorized).toBe(true);
    await c.imap('t2', 'LOGIN bob bob-pw');
    expect(await c.imap('t3', 'EXAMINE INBOX')).toMatch(/^\* 1 EXISTS/m);
    c.close();
  });

  it('speaks implicit TLS on the imaps and pop3s ports', async () => {
    const imap = await Conversation.tls(dovecot.imapsPort ?? 0, certs.caCertPem);
    expect((imap.socket as TLSSocket).authorized).toBe(true);
    await imap.expect(/^\* OK .*\r\n/);
    await imap.imap('s1', 'LOGIN alice alice-pw');
    imap.close();
    const pop3 = await Conversation.tls(dovecot.pop3sPort ?? 0, certs.caCertPem);
    await pop3.expect(/^\+OK.*\r\n/);
    pop3.close();
  });

  it('logs users in over POP3', async () => {
    const c = await Conversation.plain(dovecot.pop3Port);
    await c.expect(/^\+OK.*\r\n/);
    c.send('USER bob');
    await c.expect(/^\+OK.*\r\n/m);
    c.send('PASS bob-pw');
    await c.expect(/^\+OK.*\r\n/m);
    c.send('STAT');
    expect(await c.expect(/^\+OK.*\r\n/m)).toMatch(/^\+OK 1 \d+/m);
    c.send('QUIT');
    await c.expect(/^\+OK.*\r\n/m);
    c.close();
  });

  it('delivers over LMTP into the Maildir that readMessages reads', async () => {
    const c = await Conversation.plain(dovecot.lmtpPort);
    await c.expect(/^220 .*\r\n/);
    c.send('LHLO client.example.com');
    expect(await c.expect(/^250 .*\r\n/m)).toMatch(/^250-/m);
    c.send('MAIL FROM:<sender@example.com>');
    await c.expect(/^250 .*\r\n/m);
    c.send('RCPT TO:<nobody-here>');
    await c.expect(/^550 .*\r\n/m);
    c.send('RCPT TO:<bob>');
    await c.expect(/^250 .*\r\n/m);
    c.send('DATA');
    await c.expect(/^354 .*\r\n/m);
    c.send('From: sender@example.com\r\nSubject: over LMTP\r\n\r\nhello\r\n.');
    await c.expect(/^250 .*\r\n/m);
    c.send('QUIT');
    c.close();
    expect(dovecot.messageCount('bob')).toBe(2);
    const [marker, delivered] = dovecot.readMessages('bob');
    expect(marker).toContain('Subject: You are on backend A');
    expect(delivered).toContain('Subject: over LMTP');
  });

  it('serves messages added with deliverRaw', async () => {
    dovecot.deliverRaw('alice', 'Subject: second\r\n\r\nbody\r\n');
    expect(dovecot.messageCount('alice')).toBe(2);
    const c = await loggedIn(dovecot.imapPort);
    expect(await c.imap('d1', 'EXAMINE INBOX')).toMatch(/^\* 2 EXISTS/m);
    expect(await c.imap('d2', 'FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]')).toContain(
      'Subject: second',
    );
    c.close();
  });

  it('lets the master user log in as any user', async () => {
    const c = await loggedIn(dovecot.imapPort, 'bob*master', 'master-pw');
    expect(await c.imap('m2', 'EXAMINE INBOX')).toMatch(/EXISTS/);
    c.close();
    const wrong = await Conversation.plain(dovecot.imapPort);
    await wrong.expect(/^\* OK .*\r\n/);
    wrong.send('m1 LOGIN nobody-here*master master-pw');
    await wrong.expect(/^m1 NO .*\r\n/m);
    wrong.close();
  });

  it('takes the client address from IMAP ID sent from a trusted network', async () => {
    const c = await Conversation.plain(dovecot.imapPort);
    await c.expect(/^\* OK .*\r\n/);
    await c.imap('i1', 'ID ("x-originating-ip" "192.0.2.7" "x-originating-port" "4711")');
    await c.imap('i2', 'LOGIN alice alice-pw');
    c.close();
    await expect.poll(() => dovecot.log()).toMatch(/Login: user=<alice>.*rip=192\.0\.2\.7/);
  });

  it('takes the client address from POP3 XCLIENT sent from a trusted network', async () => {
    const c = await Conversation.plain(dovecot.pop3Port);
    await c.expect(/^\+OK.*\r\n/);
    c.send('XCLIENT ADDR=192.0.2.8 PORT=4712');
    await c.expect(/^\+OK.*\r\n/m);
    c.send('USER alice');
    await c.expect(/^\+OK.*\r\n/m);
    c.send('PASS alice-pw');
    await c.expect(/^\+OK.*\r\n/m);
    c.close();
    await expect.poll(() => dovecot.log()).toMatch(/Login: user=<alice>.*rip=192\.0\.2\.8/);
  });

  it('takes the client address from a PROXY header on the haproxy ports', async () => {
    const imap = await Conversation.plain(dovecot.imapProxyPort ?? 0);
    imap.send(`PROXY TCP4 192.0.2.9 127.0.0.1 5555 ${dovecot.imapProxyPort}`);
    await imap.expect(/^\* OK .*\r\n/);
    await imap.imap('h1', 'LOGIN bob bob-pw');
    imap.close();
    await expect.poll(() => dovecot.log()).toMatch(/Login: user=<bob>.*rip=192\.0\.2\.9/);
    const pop3 = await Conversation.plain(dovecot.pop3ProxyPort ?? 0);
    pop3.send(`PROXY TCP4 192.0.2.10 127.0.0.1 5556 ${dovecot.pop3ProxyPort}`);
    await pop3.expect(/^\+OK.*\r\n/);
    pop3.close();
  });

  it('dies on kill(), dropping connections, and resumes on the same ports', async () => {
    const c = await loggedIn(dovecot.imapPort);
    await dovecot.kill();
    expect(dovecot.running).toBe(false);
    await expect.poll(() => c.closed).toBe(true);
    await expect(Conversation.plain(dovecot.imapPort)).rejects.toThrow(/ECONNREFUSED/);
    await dovecot.resume();
    expect(dovecot.running).toBe(true);
    const again = await loggedIn(dovecot.imapPort);
    expect(await again.imap('r1', 'EXAMINE INBOX')).toMatch(/EXISTS/);
    again.close();
    await dovecot.stop();
    expect(dovecot.running).toBe(false);
    await dovecot.resume();
    (await loggedIn(dovecot.imapPort)).close();
  });

  it('runs several instances side by side', async () => {
    const [b, c] = await Promise.all([
      Dovecot.start({ name: 'B', users }),
      Dovecot.start({ name: 'C', users: [{ user: 'carol', password: 'carol-pw' }] }),
    ]);
    try {
      expect(b.imapsPort).toBeUndefined();
      expect(b.imapProxyPort).toBeUndefined();
      for (const [server, user, password, name] of [
        [b, 'bob', 'bob-pw', 'B'],
        [c, 'carol', 'carol-pw', 'C'],
      ] as const) {
        const conversation = await loggedIn(server.imapPort, user, password);
        await conversation.imap('x1', 'EXAMINE INBOX');
        expect(
          await conversation.imap('x2', 'FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]'),
        ).toContain(`Subject: You are on backend ${name}`);
        conversation.close();
      }
      const noMaster = await Conversation.plain(b.imapPort);
      expect(await noMaster.expect(/^\* OK .*\r\n/)).not.toContain('STARTTLS');
      noMaster.send('n1 LOGIN bob*master master-pw');
      await noMaster.expect(/^n1 NO .*\r\n/m);
      noMaster.close();
    } finally {
      await Promise.all([b.destroy(), c.destroy()]);
    }
  });
});
