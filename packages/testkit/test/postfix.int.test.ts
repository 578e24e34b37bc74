import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Certificates,
  Dovecot,
  freePort,
  makeCertificates,
  Postfix,
  RawClient,
  tempDir,
} from '../src/index.js';

let certDir: ReturnType<typeof tempDir>;
let certs: Certificates;
let dovecot: Dovecot;
let postfix: Postfix;
const others: Postfix[] = [];

beforeAll(async () => {
  certDir = tempDir('certs');
  certs = makeCertificates(certDir.path);
  dovecot = await Dovecot.start({
    name: 'P',
    users: [{ user: 'alice@example.com', password: 'x' }],
  });
  postfix = await Postfix.start({
    name: 'P',
    domains: ['example.com'],
    recipients: ['alice@example.com'],
    relayTo: { host: '127.0.0.1', port: dovecot.lmtpPort, lmtp: true },
    tls: certs,
  });
});

afterAll(async () => {
  for (const server of others) await server.destroy();
  await postfix?.destroy();
  await dovecot?.destroy();
  certDir?.remove();
});

/** Connects and reads the greeting. */
async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect({ port });
  expect((await c.until(/^220 /)).at(-1)).toMatch(/^220 postfix-\w+\.test ESMTP/);
  return c;
}

/** Sends a command; returns the reply's lines (the last one has a space after the code). */
async function command(c: RawClient, line: string): Promise<string[]> {
  c.send(line);
  return c.until(/^\d{3} /);
}

/** MAIL, RCPT and DATA for one message; returns the queue id from the final 250. */
async function sendMessage(c: RawClient, to: string, subject: string): Promise<string> {
  expect(await command(c, 'MAIL FROM:<sender@example.org>')).toEqual(['250 2.1.0 Ok']);
  expect(await command(c, `RCPT TO:<${to}>`)).toEqual(['250 2.1.5 Ok']);
  expect(await command(c, 'DATA')).toEqual([expect.stringMatching(/^354 /)]);
  c.write(
    [
      'From: sender@example.org',
      `To: ${to}`,
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '')}@example.org>`,
      '',
      'Hello.',
      '.',
      '',
    ].join('\r\n'),
  );
  const [reply] = await c.until(/^\d{3} /, 10_000);
  const id = /^250 2\.0\.0 Ok: queued as (\w+)$/.exec(reply ?? '')?.[1];
  if (!id) throw new Error(`not queued: ${reply}`);
  return id;
}

async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The smallest SMTP server that takes every message, for relayTo without LMTP. */
async function smtpSink(port: number, received: string[]): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = '';
    let data = false;
    socket.write('220 sink.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === '.') {
            data = false;
            socket.write('250 2.0.0 taken\r\n');
          } else received.push(line);
        } else if (/^EHLO/i.test(line)) socket.write('250 sink.test\r\n');
        else if (/^DATA/i.test(line)) {
          data = true;
          socket.write('354 go on\r\n');
        } else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return async () => {
    // Postfix may keep an idle connection for reuse: it would hold up close().
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}

describe('Postfix', () => {
  it('offers XCLIENT, SMTPUTF8, DSN, 8BITMIME and STARTTLS to 127.0.0.1', async () => {
    expect(postfix.running).toBe(true);
    expect(postfix.port).toBeGreaterThan(0);
    const c = await connect(postfix.port);
    const ehlo = await command(c, 'EHLO proxy.test');
    expect(ehlo[0]).toBe('250-postfix-P.test');
    const keywords = ehlo.map((line) => line.slice(4).split(' ')[0]);
    expect(keywords).toEqual(
      expect.arrayContaining(['XCLIENT', 'SMTPUTF8', 'DSN', '8BITMIME', 'STARTTLS', 'PIPELINING']),
    );
    expect(ehlo.find((line) => line.includes('XCLIENT'))).toMatch(/\bADDR\b.*\bHELO\b/);
    await command(c, 'QUIT');
    c.close();
  });

  it('takes XCLIENT, then delivers over LMTP into the Dovecot maildir', async () => {
    const c = await connect(postfix.port);
    await command(c, 'EHLO proxy.test');
    c.send('XCLIENT ADDR=192.0.2.9 NAME=client.example.net HELO=client.example.net PROTO=ESMTP');
    expect((await c.until(/^\d{3} /)).at(-1)).toMatch(/^220 postfix-P\.test ESMTP/);
    const ehlo = await command(c, 'EHLO client.example.net');
    // The client is 192.0.2.9 now, which may not use XCLIENT.
    expect(ehlo.some((line) => line.includes('XCLIENT'))).toBe(false);
    const id = await sendMessage(c, 'alice@example.com', 'via xclient');
    await command(c, 'QUIT');
    c.close();

    const message = await eventually(
      () => dovecot.readMessages('alice@example.com').find((m) => m.includes('via xclient')),
      'delivery to alice',
    );
    expect(message).toMatch(
      /Received: from client\.example\.net \(client\.example\.net \[192\.0\.2\.9\]\)\n\tby postfix-P\.test \(Postfix\) with ESMTP id (\w+)/,
    );
    expect(message).toContain(`with ESMTP id ${id}`);
    // Dovecot has stored the message before Postfix hears so, logs it and removes its copy.
    const sent = new RegExp(`${id}: removed`);
    await eventually(() => (sent.test(postfix.log()) ? true : undefined), 'queue file removal');
    expect(postfix.log()).toMatch(new RegExp(`${id}: to=<alice@example.com>.*status=sent`));
    expect(postfix.queueSize()).toBe(0);
    expect(await postfix.queue()).toMatch(/Mail queue is empty/);
  });

  it('rejects unlisted recipients and other domains', async () => {
    const c = await connect(postfix.port);
    await command(c, 'EHLO proxy.test');
    c.send('XCLIENT ADDR=192.0.2.9 NAME=client.example.net');
    await c.until(/^\d{3} /);
    await command(c, 'EHLO client.example.net');
    expect(await command(c, 'MAIL FROM:<sender@example.org>')).toEqual(['250 2.1.0 Ok']);
    expect((await command(c, 'RCPT TO:<bob@example.com>'))[0]).toMatch(
      /^550 5\.1\.1 <bob@example\.com>: Recipient address rejected/,
    );
    expect((await command(c, 'RCPT TO:<carol@elsewhere.test>'))[0]).toMatch(
      /^554 5\.7\.1 <carol@elsewhere\.test>: Relay access denied/,
    );
    await command(c, 'QUIT');
    c.close();
  });

  it('speaks STARTTLS with the given certificate', async () => {
    const c = await connect(postfix.port);
    await command(c, 'EHLO proxy.test');
    expect(await command(c, 'STARTTLS')).toEqual(['220 2.0.0 Ready to start TLS']);
    await c.startTls(certs.caCertPem);
    const ehlo = await command(c, 'EHLO proxy.test');
    expect(ehlo.some((line) => line.includes('STARTTLS'))).toBe(false);
    await sendMessage(c, 'alice@example.com', 'over tls');
    await command(c, 'QUIT');
    c.close();
    const message = await eventually(
      () => dovecot.readMessages('alice@example.com').find((m) => m.includes('over tls')),
      'delivery to alice',
    );
    expect(message).toMatch(/\(using TLSv1\.[23] /);
  });

  it('keeps mail without relayTo in the hold queue', async () => {
    const held = await Postfix.start({ name: 'H', domains: ['example.com'] });
    others.push(held);
    const c = await connect(held.port);
    await command(c, 'EHLO proxy.test');
    const id = await sendMessage(c, 'anyone@example.com', 'held');
    await command(c, 'QUIT');
    c.close();
    expect(held.queueSize()).toBe(1);
    // "!" marks a held message.
    expect(await held.queue()).toMatch(new RegExp(`^${id}!\\s`, 'm'));
  });

  it('stops, resumes, dies and resumes with its queue; flush() retries deferred mail', async () => {
    const sinkPort = await freePort();
    const relay = await Postfix.start({
      name: 'R',
      domains: ['example.net'],
      relayTo: { host: 'localhost', port: sinkPort },
    });
    others.push(relay);
    const send = async (subject: string): Promise<string> => {
      const c = await connect(relay.port);
      await command(c, 'EHLO proxy.test');
      const id = await sendMessage(c, 'dave@example.net', subject);
      await command(c, 'QUIT');
      c.close();
      return id;
    };
    // Nothing listens on the relay port yet: the message is deferred.
    const id = await send('deferred');
    // In the deferred queue ("*" would mark it active), with the reason.
    const listing = new RegExp(`^${id} [\\s\\S]*Connection refused`, 'm');
    await eventually(
      async () => (listing.test(await relay.queue()) ? true : undefined),
      'deferral',
    );
    expect(relay.log()).toMatch(/status=deferred.*Connection refused/);
    expect(relay.queueSize()).toBe(1);

    await relay.stop();
    expect(relay.running).toBe(false);
    await expect(RawClient.connect({ port: relay.port })).rejects.toThrow(/ECONNREFUSED/);
    await relay.resume();
    expect(relay.queueSize()).toBe(1);

    await relay.kill();
    expect(relay.running).toBe(false);
    await relay.resume();
    expect(relay.running).toBe(true);

    const received: string[] = [];
    const closeSink = await smtpSink(sinkPort, received);
    try {
      await relay.flush();
      await eventually(() => (relay.queueSize() === 0 ? true : undefined), 'an empty queue');
      expect(received).toContain('Subject: deferred');
      expect(await send('direct')).toMatch(/^\w+$/);
      await eventually(
        () => (received.includes('Subject: direct') ? true : undefined),
        'direct relay',
      );
    } finally {
      await closeSink();
    }
  });
});
