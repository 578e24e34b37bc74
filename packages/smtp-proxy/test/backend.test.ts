import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpBackend } from '../src/backend.js';

/** A scripted LMTP server on loopback: greets, answers LHLO, then answers what `reply` says. */
async function scriptedBackend(reply: (line: string) => string | undefined) {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.write('220 scripted LMTP\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (/^LHLO /.test(line)) socket.write('250-scripted\r\n250 PIPELINING\r\n');
        else {
          const answer = reply(line);
          if (answer !== undefined) socket.write(answer);
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

let backend: Awaited<ReturnType<typeof scriptedBackend>> | undefined;
afterEach(() => backend?.close());

function open(port: number) {
  return SmtpBackend.open(
    {
      host: '127.0.0.1',
      port,
      lmtp: true,
      tls: 'none',
      tlsOptions: {},
      name: 'homing.test',
      maxLineBytes: 1000,
    },
    AbortSignal.timeout(2000),
  );
}

describe('SmtpBackend waits', () => {
  it('a reply that does not come in time fails the command and closes the connection', async () => {
    backend = await scriptedBackend((line) => (line.startsWith('NOOP') ? '250 ok\r\n' : undefined));
    const client = await open(backend.port);
    expect((await client.command('NOOP', 50)).code).toBe(250);
    const started = performance.now();
    await expect(client.command('MAIL FROM:<a@b.c>', 100)).rejects.toThrow(
      /did not answer in time/,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(client.closed).toBe(true);
  });

  it('a shorter wait after a longer one is kept', async () => {
    backend = await scriptedBackend((line) => (line.startsWith('NOOP') ? '250 ok\r\n' : undefined));
    const client = await open(backend.port);
    // Arms the connection's timer for 10 s; the next wait is shorter and must not inherit it.
    expect((await client.command('NOOP', 10_000)).code).toBe(250);
    const started = performance.now();
    await expect(client.command('RSET', 100)).rejects.toThrow(/did not answer in time/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('replies that come in time, one after the other, are not cut short by earlier waits', async () => {
    backend = await scriptedBackend((line) => (line.startsWith('NOOP') ? '250 ok\r\n' : undefined));
    const client = await open(backend.port);
    const until = performance.now() + 300;
    let count = 0;
    while (performance.now() < until) {
      expect((await client.command('NOOP', 100)).code).toBe(250);
      count += 1;
    }
    expect(count).toBeGreaterThan(10);
    expect(client.closed).toBe(false);
    client.close();
  });
});
