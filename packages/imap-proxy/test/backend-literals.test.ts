import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Deadline } from '@homing/proxy-core';
import { afterEach, describe, expect, it } from 'vitest';
import { ImapBackend } from '../src/backend.js';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/**
 * A backend that greets with `capabilities`, answers "+" to a synchronizing literal and OK to
 * the command once its line is whole; it records what it read.
 */
async function scriptedBackend(capabilities: string): Promise<{ port: number; read: Buffer[] }> {
  const read: Buffer[] = [];
  const server = createServer((socket: Socket) => {
    socket.write(`* OK [CAPABILITY IMAP4rev1 ${capabilities}] ready\r\n`);
    let seen = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      read.push(chunk);
      seen = Buffer.concat([seen, chunk]);
      const text = seen.toString('latin1');
      if (/\{\d+\}\r\n$/.test(text)) socket.write('+ go ahead\r\n');
      else if (text.endsWith('\r\n')) socket.write('H1 OK logged in\r\n');
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, read };
}

async function loginWith(capabilities: string): Promise<{ status: string; sent: string }> {
  const { port, read } = await scriptedBackend(capabilities);
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const backend = new ImapBackend(socket, 8192);
  const deadline = new Deadline(5000);
  try {
    expect(await backend.greeting(deadline.signal)).toBe(true);
    const response = await backend.command(
      'LOGIN',
      ['alice', { literal: Buffer.from('pässword', 'utf8') }],
      deadline.signal,
    );
    return { status: response.status, sent: Buffer.concat(read).toString('utf8') };
  } finally {
    deadline.clear();
    socket.destroy();
  }
}

describe('ImapBackend.command with a literal', () => {
  it('waits for the backend\'s "+" before a synchronizing literal', async () => {
    const { status, sent } = await loginWith('');
    expect(status).toBe('OK');
    expect(sent).toBe('H1 LOGIN alice {9}\r\npässword\r\n');
  });

  it('sends a non-synchronizing literal at once where LITERAL+ is offered', async () => {
    const { status, sent } = await loginWith('LITERAL+');
    expect(status).toBe('OK');
    expect(sent).toBe('H1 LOGIN alice {9+}\r\npässword\r\n');
  });
});
