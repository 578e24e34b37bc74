import { connect, createServer, type Server, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { smtpError, smtpReplies } from '../src/smtp-replies.js';
import { inTransaction, type SmtpConnection, startSession } from '../src/smtp-server-adapter.js';

// These run the installed smtp-server through the adapter: a release that renames or drops what
// the adapter relies on fails here, not in production.

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** smtp-server on a plain TCP listener, each connection started through the adapter. */
async function serve(
  options: ConstructorParameters<typeof SMTPServer>[0],
  delayMs = 0,
): Promise<{ port: number; smtp: SMTPServer; sessions: SmtpConnection[] }> {
  const smtp = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    // As homing's listeners run it: enhanced status codes on (RFC 2034).
    hideENHANCEDSTATUSCODES: false,
    ...options,
  });
  const sessions: SmtpConnection[] = [];
  const server: Server = createServer((socket) => {
    sessions.push(
      startSession(
        smtp,
        socket,
        {
          id: `s${sessions.length}`,
          remoteAddress: socket.remoteAddress,
          remotePort: socket.remotePort,
          localAddress: socket.localAddress,
          localPort: socket.localPort,
        },
        delayMs,
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push(server, { close: () => smtp.close() });
  return { port: (server.address() as { port: number }).port, smtp, sessions };
}

/** A client that reads one reply (its last line) per call. */
async function client(port: number) {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  open.push({ close: () => socket.destroy() });
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  const drain = () => {
    for (let m = /^\d{3} [^\r\n]*\r\n/m.exec(buffer); m && waiting.length; ) {
      buffer = buffer.slice(m.index + m[0].length);
      waiting.shift()?.(m[0].trim());
      m = /^\d{3} [^\r\n]*\r\n/m.exec(buffer);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    drain();
  });
  const reply = () =>
    new Promise<string>((resolve) => {
      waiting.push(resolve);
      drain();
    });
  const say = (line: string) => {
    socket.write(`${line}\r\n`);
    return reply();
  };
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { reply, say, closed, socket };
}

describe('the smtp-server adapter', () => {
  it('greets at once when there is no pause', async () => {
    const { port } = await serve({});
    const c = await client(port);
    const started = performance.now();
    expect(await c.reply()).toMatch(/^220 /);
    expect(performance.now() - started).toBeLessThan(90); // smtp-server's own pause is 100 ms
  });

  it('refuses a client that talks before a paused greeting', async () => {
    const { port } = await serve({}, 300);
    const c = await client(port);
    c.socket.write('EHLO early.test\r\n');
    expect(await c.reply()).toMatch(/^421 .*talk too soon/i);
  });

  it('leaves out its own enhanced code where the reply has one, and adds it where not', async () => {
    const { port } = await serve({
      onRcptTo: (address, _session, done) =>
        address.address.startsWith('nobody') ? done(smtpError(smtpReplies.noSuchUser)) : done(),
    });
    const c = await client(port);
    await c.reply();
    await c.say('EHLO client.test');
    await c.say('MAIL FROM:<a@example.net>');
    expect(await c.say('RCPT TO:<nobody@example.com>')).toBe('550 5.1.1 No such user here');
    expect(await c.say('RCPT TO:<alice@example.com>')).toMatch(/^250 2\.1\.5 /);
  });

  it('tells when a transaction is under way', async () => {
    const { port, sessions } = await serve({});
    const c = await client(port);
    await c.reply();
    await c.say('EHLO client.test');
    expect(inTransaction(sessions[0])).toBe(false);
    await c.say('MAIL FROM:<a@example.net>');
    expect(inTransaction(sessions[0])).toBe(true);
    await c.say('RSET');
    expect(inTransaction(sessions[0])).toBe(false);
  });

  it('sends the replies to pipelined commands in one write, waits for handlers included', async () => {
    const { port } = await serve({
      // As a RCPT that waits for its mailbox server.
      onRcptTo: (_address, _session, done) => setTimeout(done, 20),
      onData: (stream, _session, done) => {
        stream.resume();
        stream.once('end', () => done());
      },
    });
    const c = await client(port);
    await c.reply();
    await c.say('EHLO client.test');
    const chunks: string[] = [];
    c.socket.on('data', (chunk: Buffer) => chunks.push(chunk.toString('latin1')));
    c.socket.write(
      'MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n',
    );
    for (let i = 0; i < 4; i += 1) await c.reply();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.match(/^\d{3} /gm)).toEqual(['250 ', '250 ', '250 ', '354 ']);
    // One at a time, each reply comes as soon as its command is done.
    expect(await c.say('.')).toMatch(/^250 /);
    expect(await c.say('NOOP')).toMatch(/^250 /);
    expect(chunks).toHaveLength(3);
  });

  it("keeps the server's own set of connections as smtp-server's connect() does", async () => {
    const { port, smtp } = await serve({});
    // Private, but smtp-server counts maxClients by it and each connection leaves it on close.
    const { connections } = smtp as unknown as { connections: Set<unknown> };
    const a = await client(port);
    const b = await client(port);
    await a.reply();
    await b.reply();
    expect(connections.size).toBe(2);
    await a.say('QUIT');
    await a.closed;
    b.socket.destroy();
    await b.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections.size).toBe(0);
  });
});
