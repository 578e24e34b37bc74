import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodeProxyV2 } from '@homing/proxy-core';
import { RawClient } from '@homing/testkit';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits, maxMessageBytes, SmtpCluster } from './cluster.js';

let cluster: SmtpCluster;

beforeAll(async () => {
  cluster = await SmtpCluster.start();
});

afterAll(async () => {
  await cluster?.destroy();
});

function transport(port = cluster.ports.mx) {
  const options: SMTPTransport.Options = {
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
  };
  return nodemailer.createTransport(options);
}

/** A raw SMTP session: greeting read, EHLO done. */
async function session(port = cluster.ports.mx, preamble?: Buffer) {
  const client = await RawClient.connect({ port, preamble });
  await client.until(/^220 /);
  client.send('EHLO client.example.net');
  const ehlo = await client.until(/^250 /);
  return { client, ehlo };
}

async function reply(client: RawClient, line: string): Promise<string> {
  client.send(line);
  return (await client.until(/^\d{3} /)).at(-1) as string;
}

const marker = () => `m-${randomUUID()}`;

/** MAIL, RCPT to `rcpt` (250) and DATA (354): the client may send the message. */
async function startData(client: RawClient, rcpt: string): Promise<void> {
  await reply(client, 'MAIL FROM:<s@example.net>');
  expect(await reply(client, `RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
  expect(await reply(client, 'DATA')).toMatch(/^354 /);
}

describe('MX: each recipient reaches its own mailbox server, exactly once', () => {
  it('with nodemailer', async () => {
    const id = marker();
    const info = await transport().sendMail({
      from: 'sender@example.net',
      to: 'bob@example.com',
      subject: id,
      text: 'hello',
    });
    expect(info.accepted).toEqual(['bob@example.com']);
    expect(info.response).toMatch(/^250 /);
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('alice@example.com', id)).toHaveLength(0);
  });

  it('logs one line per message: sender, size, each recipient with its server and reply', async () => {
    const id = marker();
    await transport().sendMail({
      from: 'sender@example.net',
      to: 'alice@example.com, carol@example.com',
      subject: id,
      text: 'logged',
    });
    const line = cluster.log
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'message delivered')
      .at(-1);
    expect(line).toMatchObject({
      level: 30,
      // The session's line as the other protocols' lines name it: listener, session, client.
      proto: 'mx',
      sid: expect.any(String),
      client: '127.0.0.1',
      from: 'sender@example.net',
      rcpts: [
        { to: 'alice@example.com', backend: 'mbox-a', reply: expect.stringMatching(/^250 /) },
        { to: 'carol@example.com', backend: 'mbox-a', reply: expect.stringMatching(/^250 /) },
      ],
    });
    expect(line?.size).toBeGreaterThan(100);
  });

  it('with curl', async () => {
    const id = marker();
    const child = execFile('curl', [
      '-s',
      '--url',
      `smtp://127.0.0.1:${cluster.ports.mx}`,
      '--mail-from',
      'sender@example.net',
      '--mail-rcpt',
      'alice@example.com',
      '-T',
      '-',
    ]);
    child.stdin?.end(`Subject: ${id}\r\n\r\nfrom curl\r\n`);
    await new Promise((resolve) => child.once('exit', resolve));
    await expect.poll(() => cluster.delivered('alice@example.com', id).length).toBe(1);
  });

  it('with raw pipelined commands, through an alias and a +detail', async () => {
    const id = marker();
    const { client, ehlo } = await session();
    expect(ehlo.join('\n')).toMatch(/PIPELINING/);
    client.write(
      `MAIL FROM:<s@example.net>\r\nRCPT TO:<a.smith+news@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n`,
    );
    const replies = await client.until(/^354 /);
    expect(replies.filter((l) => /^\d{3} /.test(l))).toEqual([
      expect.stringMatching(/^250 /),
      expect.stringMatching(/^250 /),
      expect.stringMatching(/^250 /),
      expect.stringMatching(/^354 /),
    ]);
    client.write(`Subject: ${id}\r\n\r\n.leading dot\r\nbody\r\n.\r\nQUIT\r\n`);
    expect((await client.until(/^250 /)).at(-1)).toMatch(/^250 2\.0\.0 /);
    await expect.poll(() => cluster.delivered('alice@example.com', id).length).toBe(1);
    expect(cluster.delivered('carol@example.com', id)).toHaveLength(1);
    expect(cluster.delivered('alice@example.com', id)[0]).toContain('\n.leading dot\n');
  });
});

describe('MX: a session logger only when a line needs it', () => {
  it('none for sessions that deliver; one for a session whose recipient is refused', async () => {
    const before = cluster.loggersMade;
    for (const rcpt of ['alice@example.com', 'bob@example.com']) {
      const { client } = await session();
      expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
      expect(await reply(client, `RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
      expect(await reply(client, 'DATA')).toMatch(/^354 /);
      expect(await reply(client, `Subject: ${marker()}\r\n\r\nquiet\r\n.`)).toMatch(/^250 /);
      expect(await reply(client, 'QUIT')).toMatch(/^221 /);
      client.close();
    }
    expect(cluster.loggersMade).toBe(before);
    const { client } = await session();
    await reply(client, 'MAIL FROM:<s@example.net>');
    expect(await reply(client, 'RCPT TO:<nobody@example.com>')).toMatch(/^550 /);
    expect(cluster.loggersMade).toBe(before + 1);
    client.close();
  });
});

describe('MX: backend connections', () => {
  it('one connection serves session after session (the pool)', async () => {
    const connects = () => cluster.counted.backendConnects.get('mbox-a lmtp') ?? 0;
    const before = connects();
    for (let i = 0; i < 4; i += 1) {
      const { client } = await session();
      await startData(client, 'alice@example.com');
      client.write(`Subject: ${marker()}\r\n\r\npooled\r\n.\r\n`);
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
      expect(await reply(client, 'QUIT')).toMatch(/^221 /);
      await client.waitClosed();
      // The server side hands the connection back once it has seen the close.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // One new connection at most (none when an earlier test left one in the pool).
    expect(connects() - before).toBeLessThanOrEqual(1);
  });
});

describe('MX: replies to pipelined commands', () => {
  /** The bytes the client receives, each read as it came, until `last` has been seen. */
  async function chunksUntil(socket: Socket, last: RegExp): Promise<string[]> {
    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${last}: ${chunks.join('|')}`)), 5000);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk.toString('latin1'));
        if (last.test(chunks.join(''))) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    socket.removeAllListeners('data');
    return chunks;
  }

  it('leave in one write: MAIL, RCPTs on two backends and DATA, then the end and QUIT', async () => {
    const socket = connect(cluster.ports.fanout, '127.0.0.1');
    await chunksUntil(socket, /^220 .*\r\n$/m);
    socket.write('EHLO client.example.net\r\n');
    await chunksUntil(socket, /^250 .*\r\n$/m);
    const id = marker();
    // Each RCPT waits for its backend: without batching the replies leave one by one.
    socket.write(
      'MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.com>\r\n' +
        'RCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n',
    );
    const replies = await chunksUntil(socket, /^354 /m);
    expect(replies).toHaveLength(1);
    expect(replies[0]?.match(/^\d{3} /gm)).toEqual(['250 ', '250 ', '250 ', '250 ', '354 ']);
    socket.write(`Subject: ${id}\r\n\r\nbatched\r\n.\r\nQUIT\r\n`);
    const end = await chunksUntil(socket, /^221 /m);
    expect(end).toHaveLength(1);
    expect(end[0]).toMatch(/^250 [^\r]*\r\n221 /);
    socket.destroy();
    for (const user of ['alice@example.com', 'bob@example.com', 'carol@example.com'])
      await expect.poll(() => cluster.delivered(user, id).length).toBe(1);
  });

  it('a client that waits for each reply gets each at once', async () => {
    const { client } = await session();
    // A held reply would time out here: each reply is awaited before the next command.
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<alice@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'RSET')).toMatch(/^250 /);
    expect(await reply(client, 'QUIT')).toMatch(/^221 /);
  });
});

describe('MX: DATA streamed to the backend', () => {
  it.each([
    ['DATA', 'bob@example.com'],
    ['BDAT', 'alice@example.com'],
  ])(
    '%s: a large message with lines that start with a dot arrives byte for byte',
    async (_how, user) => {
      const id = marker();
      const lines = [`Subject: ${id}`, ''];
      for (let i = 0; i < 2500; i += 1)
        lines.push(`${i % 7 === 0 ? '.' : ''}line ${i} ${'q'.repeat(60)}`);
      lines.push('.', '..', 'end');
      const message = `${lines.join('\r\n')}\r\n`;
      expect(message.length).toBeGreaterThan(150_000);
      const { client } = await session();
      await startData(client, user);
      client.write(`${message.replace(/^\./gm, '..')}.\r\n`);
      expect((await client.until(/^\d{3} /, 10_000)).at(-1)).toMatch(/^250 /);
      client.close();
      const copies = cluster.delivered(user, id);
      expect(copies).toHaveLength(1);
      // Dovecot stores LF line ends.
      expect((copies[0] as string).endsWith(message.replace(/\r\n/g, '\n'))).toBe(true);
    },
  );

  it('after STARTTLS too, a FIN during DATA ends the session at once and nothing lands', async () => {
    const gone = marker();
    const { client } = await session();
    client.send('STARTTLS');
    await client.until(/^220 /);
    await client.startTls(cluster.certs.caCertPem);
    client.send('EHLO client.example.net');
    await client.until(/^250 /);
    await startData(client, 'bob@example.com');
    client.write(`Subject: ${gone}\r\n\r\nhalf a message\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    client.socket.end();
    await client.waitClosed(1000);
    await new Promise((r) => setTimeout(r, 300));
    expect(cluster.delivered('bob@example.com', gone)).toHaveLength(0);
  });

  it('a client that goes away during DATA: nothing lands, and the next message does', async () => {
    const gone = marker();
    const { client } = await session();
    await startData(client, 'bob@example.com');
    client.write(`Subject: ${gone}\r\n\r\nhalf a message\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    // Its FIN ends the session at once, not at the idle timeout (5 s here).
    client.socket.end();
    await client.waitClosed(1000);
    const next = marker();
    await transport().sendMail({
      from: 'sender@example.net',
      to: 'bob@example.com',
      subject: next,
      text: 'whole',
    });
    await expect.poll(() => cluster.delivered('bob@example.com', next).length).toBe(1);
    expect(cluster.delivered('bob@example.com', gone)).toHaveLength(0);
  });
});

describe('MX: BDAT from clients (RFC 3030)', () => {
  it('CHUNKING is offered; pipelined chunks reach backends with and without BDAT, byte for byte', async () => {
    const id = marker();
    const socket = connect(cluster.ports.fanout, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const waitFor = async (pattern: RegExp) => {
      await expect.poll(() => pattern.test(received), { timeout: 5000 }).toBe(true);
    };
    await waitFor(/^220 /m);
    socket.write('EHLO client.example.net\r\n');
    await waitFor(/^250 SIZE/m);
    expect(received).toMatch(/^250-CHUNKING\r$/m);
    // A line that starts with a dot and one that is a lone dot: BDAT carries them as they are.
    const first = `Subject: ${id}\r\n\r\n.leading dot\r\n`;
    const second = '.\r\nlast line\r\n';
    socket.write(
      'MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n' +
        `BDAT ${first.length}\r\n${first}BDAT ${second.length} LAST\r\n${second}QUIT\r\n`,
    );
    await waitFor(/^221 /m);
    const replies = received.split('\r\n').filter((l) => /^\d{3} /.test(l));
    expect(replies.slice(-6)).toEqual([
      expect.stringMatching(/^250 2\.1\.0 /),
      expect.stringMatching(/^250 2\.1\.5 /),
      expect.stringMatching(/^250 2\.1\.5 /),
      `250 2.0.0 ${first.length} octets received`,
      expect.stringMatching(/^250 2\.0\.0 /),
      expect.stringMatching(/^221 /),
    ]);
    socket.destroy();
    for (const user of ['alice@example.com', 'bob@example.com']) {
      await expect.poll(() => cluster.delivered(user, id).length).toBe(1);
      expect(cluster.delivered(user, id)[0]).toContain('\n.leading dot\n.\nlast line\n');
    }
  });

  it('a chunk past the size limit gets 552 and nothing lands; the session goes on', async () => {
    const id = marker();
    const { client } = await session();
    await reply(client, 'MAIL FROM:<s@example.net>');
    await reply(client, 'RCPT TO:<carol@example.com>');
    const body = `Subject: ${id}\r\n\r\n${'x'.repeat(maxMessageBytes)}\r\n`;
    client.write(`BDAT ${body.length} LAST\r\n${body}`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^552 5\.3\.4 /);
    // No transaction now: a chunk is read and refused.
    client.write('BDAT 3 LAST\r\nabc');
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^503 /);
    expect(await reply(client, 'NOOP')).toMatch(/^250 /);
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(cluster.delivered('carol@example.com', id)).toHaveLength(0);
  });

  it('DATA after BDAT in one transaction is refused', async () => {
    const { client } = await session();
    await reply(client, 'MAIL FROM:<s@example.net>');
    await reply(client, 'RCPT TO:<carol@example.com>');
    client.write('BDAT 5\r\nhello');
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 2\.0\.0 5 octets/);
    expect(await reply(client, 'DATA')).toMatch(/^503 /);
    client.close();
  });
});

describe('MX: STARTTLS', () => {
  it('commands pipelined after STARTTLS are dropped, and the session starts over under TLS', async () => {
    const { client } = await session();
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    client.write('STARTTLS\r\nNOOP\r\n');
    await client.until(/^220 /);
    await client.startTls(cluster.certs.caCertPem);
    // Nothing answered the NOOP sent in the clear, and the client must say EHLO again.
    expect(client.rest()).toBe('');
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^503 /);
    client.send('EHLO client.example.net');
    const ehlo = await client.until(/^250 /);
    expect(ehlo.join('\n')).not.toMatch(/STARTTLS/);
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    expect(await reply(client, 'STARTTLS')).toMatch(/^503 /);
    client.close();
  });
});

describe('MX: mixed backends', () => {
  it('single policy: recipients on a second backend get 452 and arrive in a second transaction', async () => {
    const id = marker();
    const { client } = await session();
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<alice@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<bob@example.com>')).toMatch(/^452 4\.5\.3 /);
    expect(await reply(client, 'DATA')).toMatch(/^354 /);
    client.write(`Subject: ${id}\r\n\r\nfirst\r\n.\r\n`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<bob@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'DATA')).toMatch(/^354 /);
    client.write(`Subject: ${id}\r\n\r\nsecond\r\n.\r\n`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.send('QUIT');
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('alice@example.com', id)).toHaveLength(1);
  });

  it('nodemailer retries what got 452 and everyone gets one copy', async () => {
    const id = marker();
    const info = await transport().sendMail({
      from: 's@example.net',
      to: ['alice@example.com', 'bob@example.com'],
      subject: id,
      text: 'x',
    });
    expect(info.rejected).toEqual(['bob@example.com']);
    await transport().sendMail({
      from: 's@example.net',
      to: info.rejected as string[],
      subject: id,
      text: 'x',
    });
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('alice@example.com', id)).toHaveLength(1);
  });

  it('fanout policy: both backends in one transaction', async () => {
    const id = marker();
    const info = await transport(cluster.ports.fanout).sendMail({
      from: 's@example.net',
      to: ['alice@example.com', 'bob@example.com'],
      subject: id,
      text: 'x',
    });
    expect(info.accepted).toEqual(['alice@example.com', 'bob@example.com']);
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('alice@example.com', id)).toHaveLength(1);
  });
});

describe('MX: after QUIT', () => {
  it('a client that keeps its side open is cut off once the linger is over', async () => {
    const before = new Set(cluster.registry.list().map((s) => s.id));
    const socket = connect({ port: cluster.ports.mx, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    const ended = new Promise((resolve) => socket.once('end', resolve));
    await expect.poll(() => text).toMatch(/^220 /);
    const [mine] = cluster.registry.list().filter((s) => !before.has(s.id));
    expect(mine).toBeDefined();
    socket.write('QUIT\r\n');
    await ended;
    expect(text).toMatch(/\r\n221 /);
    // Our side is shut; the client's is not, and it never closes it.
    const gone = () => !cluster.registry.list().some((s) => s.id === mine?.id);
    expect(gone()).toBe(false);
    await expect.poll(gone, { timeout: 3500, interval: 100 }).toBe(true);
    socket.destroy();
  });
});

describe('MX: slow clients', () => {
  it('closes a client that trickles a command, byte by byte, at the line deadline', async () => {
    const { client } = await session();
    const line = 'MAIL FROM:<someone-who-types-very-slowly@example.net>';
    const started = performance.now();
    for (let i = 0; !client.closed && i < line.length; i += 1) {
      client.write(line[i] as string);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await client.waitClosed();
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(limits.lineTimeoutMs - 100);
    expect(ms).toBeLessThan(limits.lineTimeoutMs + 1500);
    const next = await session();
    expect(await reply(next.client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    next.client.close();
  });

  it('times each line from its own first byte, not from an earlier line of the same read', async () => {
    const { client } = await session();
    const step = (limits.lineTimeoutMs * 2) / 3;
    // Every line is whole within two thirds of the deadline; together they take longer.
    client.write('NOOP\r\nNO');
    await new Promise((resolve) => setTimeout(resolve, step));
    client.write('OP\r\nNO');
    await new Promise((resolve) => setTimeout(resolve, step));
    expect(client.closed).toBe(false);
    expect(await reply(client, 'OP')).toMatch(/^250 /);
    client.close();
  });

  it('leaves a transaction alone once MAIL was accepted', async () => {
    const { client } = await session();
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    client.write('RCPT TO:<bob@');
    await new Promise((resolve) => setTimeout(resolve, limits.lineTimeoutMs + 500));
    expect(client.closed).toBe(false);
    expect(await reply(client, 'example.com>')).toMatch(/^250 /);
    client.close();
  });
});

describe('MX: refusals and failures', () => {
  it("unknown user 550, and the backend's own refusal reaches the sender", async () => {
    const { client } = await session();
    await reply(client, 'MAIL FROM:<s@example.net>');
    expect(await reply(client, 'RCPT TO:<nobody@example.com>')).toMatch(/^550 5\.1\.1 /);
    expect(await reply(client, 'RCPT TO:<ghost@example.com>')).toMatch(/^550 5\.1\.1 /);
    client.close();
    const refused = cluster.log
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'recipient refused' && l.to === 'nobody@example.com')
      .at(-1);
    expect(refused).toMatchObject({
      level: 30,
      client: expect.any(String),
      helo: expect.any(String),
      from: 's@example.net',
      reply: expect.stringMatching(/^550 5\.1\.1 /),
    });
  });

  it('SIZE is advertised and a larger message gets 552', async () => {
    const { client, ehlo } = await session();
    expect(ehlo.join('\n')).toContain(`SIZE ${maxMessageBytes}`);
    await reply(client, 'MAIL FROM:<s@example.net>');
    await reply(client, 'RCPT TO:<carol@example.com>');
    await reply(client, 'DATA');
    const id = marker();
    client.write(`Subject: ${id}\r\n\r\n${'x'.repeat(1000)}\r\n`.repeat(250));
    client.write('.\r\n');
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^552 /);
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(cluster.delivered('carol@example.com', id)).toHaveLength(0);
  });

  it('a mail loop (too many Received headers) is refused and not delivered', async () => {
    const id = marker();
    const { client } = await session();
    await reply(client, 'MAIL FROM:<s@example.net>');
    await reply(client, 'RCPT TO:<carol@example.com>');
    await reply(client, 'DATA');
    client.write(
      `${'Received: from x by y; Thu, 1 Jan 2026 00:00:00 +0000\r\n'.repeat(31)}Subject: ${id}\r\n\r\nloop\r\n.\r\n`,
    );
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^554 5\.4\.6 /);
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(cluster.delivered('carol@example.com', id)).toHaveLength(0);
  });

  it('8BITMIME reaches the backend; SMTPUTF8 is refused where a backend lacks it', async () => {
    const id = marker();
    const { client, ehlo } = await session();
    expect(ehlo.join('\n')).toMatch(/8BITMIME/);
    expect(await reply(client, 'MAIL FROM:<jörg@exämple.net> SMTPUTF8')).toMatch(/^250 /);
    // Dovecot 2.3's LMTP has no SMTPUTF8: the recipient is refused, not delivered mangled.
    expect(await reply(client, 'RCPT TO:<carol@example.com>')).toMatch(/^553 5\.6\.7 /);
    expect(await reply(client, 'RSET')).toMatch(/^250 /);
    expect(await reply(client, 'MAIL FROM:<s@example.net> BODY=8BITMIME')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<carol@example.com>')).toMatch(/^250 /);
    await reply(client, 'DATA');
    client.write(Buffer.from(`Subject: ${id}\r\n\r\nGrüße\r\n.\r\n`, 'utf8'));
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.close();
    await expect.poll(() => cluster.delivered('carol@example.com', id).length).toBe(1);
    expect(cluster.delivered('carol@example.com', id)[0]).toContain('Grüße');
  });

  it("XCLIENT: the real client address (from a PROXY header) is in the backend's Received header", async () => {
    const id = marker();
    const preamble = encodeProxyV2(
      { address: '192.0.2.55', port: 4000 },
      { address: '127.0.0.1', port: 25 },
    );
    const { client } = await session(cluster.ports.proxied, preamble);
    // Two transactions: the second reuses the backend connection that was told once.
    for (const n of [1, 2]) {
      await reply(client, 'MAIL FROM:<s@example.net>');
      await reply(client, 'RCPT TO:<carol@example.com>');
      await reply(client, 'DATA');
      client.write(`Subject: ${id}-${n}\r\n\r\nx\r\n.\r\n`);
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    }
    client.close();
    await expect.poll(() => cluster.delivered('carol@example.com', id).length).toBe(2);
    for (const copy of cluster.delivered('carol@example.com', id)) {
      expect(copy).toMatch(/Received: from \S+ \(\[192\.0\.2\.55\]\)/);
      expect(copy).not.toMatch(/\(homing\)/);
    }
  });

  it('without XCLIENT homing writes the Received header', async () => {
    const id = marker();
    const preamble = encodeProxyV2(
      { address: '192.0.2.56', port: 4000 },
      { address: '127.0.0.1', port: 25 },
    );
    const { client } = await session(cluster.ports.proxied, preamble);
    await reply(client, 'MAIL FROM:<s@example.net>');
    await reply(client, 'RCPT TO:<bob@example.com>');
    await reply(client, 'DATA');
    client.write(`Subject: ${id}\r\n\r\nx\r\n.\r\n`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    client.close();
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('bob@example.com', id)[0]).toMatch(
      /Received: from client\.example\.net \(\[192\.0\.2\.56\]\)\s+by homing\.test \(homing\)/,
    );
  });

  it('directory down: cached recipients are still routed, others get 451 4.4.3', async () => {
    await transport().sendMail({
      from: 's@example.net',
      to: 'carol@example.com',
      subject: 'warm',
      text: 'x',
    });
    await cluster.slapd.kill();
    try {
      const { client } = await session();
      await reply(client, 'MAIL FROM:<s@example.net>');
      expect(await reply(client, 'RCPT TO:<carol@example.com>')).toMatch(/^250 /);
      expect(await reply(client, 'RCPT TO:<unknown-now@example.com>')).toMatch(/^451 4\.4\.3 /);
      client.close();
    } finally {
      await cluster.slapd.resume();
    }
  });

  it('backend down: 451 4.4.1; the retry after it is back delivers', async () => {
    const id = marker();
    await cluster.b.stop();
    try {
      const error = await transport()
        .sendMail({ from: 's@example.net', to: 'bob@example.com', subject: id, text: 'x' })
        .catch((e: { responseCode?: number; response?: string }) => e);
      expect(error).toMatchObject({ responseCode: 451 });
      expect((error as { response: string }).response).toMatch(/4\.4\.1/);
    } finally {
      await cluster.b.resume();
    }
    await new Promise((r) => setTimeout(r, 400)); // past the health backoff
    await transport().sendMail({
      from: 's@example.net',
      to: 'bob@example.com',
      subject: id,
      text: 'x',
    });
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
  });

  it.each([
    ['DATA', 'bob@example.com', 'b'],
    ['BDAT', 'alice@example.com', 'a'],
  ] as const)(
    '%s: backend killed during the message: 451, never 250, and no copy lands',
    async (_how, user, server) => {
      const id = marker();
      const { client } = await session();
      await startData(client, user);
      client.write(`Subject: ${id}\r\n\r\nstart\r\n`);
      await new Promise((r) => setTimeout(r, 200));
      await cluster[server].kill();
      try {
        client.write('rest of the message\r\n.\r\n');
        const last = (await client.until(/^\d{3} /)).at(-1);
        expect(last).toMatch(/^451 4\.4\.2 /);
      } finally {
        await cluster[server].resume();
      }
      client.close();
      expect(cluster.delivered(user, id)).toHaveLength(0);
    },
  );
});

describe('LMTP listener', () => {
  it("per-recipient replies in the client's order: delivered, unknown, over quota, other backend", async () => {
    const id = marker();
    const client = await RawClient.connect({ port: cluster.ports.lmtp });
    await client.until(/^220 /);
    client.send('LHLO edge.example.net');
    await client.until(/^250 /);
    expect(await reply(client, 'MAIL FROM:<s@example.net>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<alice@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<nobody@example.com>')).toMatch(/^550 5\.1\.1 /);
    expect(await reply(client, 'RCPT TO:<dave@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'RCPT TO:<bob@example.com>')).toMatch(/^250 /);
    expect(await reply(client, 'DATA')).toMatch(/^354 /);
    client.write(`Subject: ${id}\r\n\r\n${'y'.repeat(4000)}\r\n.\r\n`);
    const lines = await client.until(/^\d{3} /);
    const rest = [
      lines.at(-1),
      ...(await client.until(/^\d{3} /)).slice(-1),
      ...(await client.until(/^\d{3} /)).slice(-1),
    ];
    expect(rest[0]).toMatch(/^250 /); // alice
    expect(rest[1]).toMatch(/^552 /); // dave, over quota
    expect(rest[2]).toMatch(/^250 /); // bob, on the other backend
    client.send('QUIT');
    await expect.poll(() => cluster.delivered('bob@example.com', id).length).toBe(1);
    expect(cluster.delivered('alice@example.com', id)).toHaveLength(1);
    expect(cluster.delivered('dave@example.com', id)).toHaveLength(0);
  });
});

describe('metrics', () => {
  it('counts recipients and messages by outcome', () => {
    expect(cluster.counted.messages.get('smtp accepted')).toBeGreaterThan(5);
    expect(cluster.counted.messages.get('lmtp deferred')).toBe(1); // dave over quota
    expect(cluster.counted.recipients.get('smtp unknown')).toBeGreaterThan(0);
    expect(cluster.counted.recipients.get('smtp deferred')).toBeGreaterThan(0); // 452, 451
    expect(cluster.counted.messages.get('smtp refused')).toBeGreaterThan(0); // the loop
  });
});
