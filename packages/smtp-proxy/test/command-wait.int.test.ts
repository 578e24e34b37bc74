import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Directory } from '@homing/directory';
import { defaultLimits } from '@homing/proxy-core';
import { freePort } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpListener } from '../src/index.js';
import { smtpListenerOptions } from './listener-options.js';
import { oneBackendDirectory } from './one-backend.js';

// A mailbox server that greets and answers EHLO and MAIL, then never answers RCPT.
function silentOnRcpt(): Server {
  return createServer((socket) => {
    socket.write('220 mbox ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('latin1').split('\r\n')) {
        if (/^(EHLO|LHLO)/i.test(line)) socket.write('250-mbox\r\n250 PIPELINING\r\n');
        else if (/^MAIL/i.test(line)) socket.write('250 2.1.0 Ok\r\n');
        else if (/^(RSET|QUIT)/i.test(line)) socket.write('250 2.0.0 Ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
}

const dir = mkdtempSync(join(tmpdir(), 'homing-command-wait-'));
let backend: Server;
let listener: Server;
let directory: Directory;
let port = 0;

beforeAll(async () => {
  backend = silentOnRcpt();
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as { port: number }).port;
  directory = await oneBackendDirectory(dir, backendPort);
  port = await freePort();
  listener = await startSmtpListener(
    smtpListenerOptions('mx', port, 'mx', directory, {
      // The login's wait is long: only the command wait can end this one in time.
      limits: { ...defaultLimits, backendLoginTimeoutMs: 20_000, backendCommandTimeoutMs: 400 },
      submission: { mode: 'home', allowPlaintext: true, oauth: false },
    }),
  );
});

afterAll(async () => {
  listener?.close();
  backend?.close();
  await directory?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends the lines one by one and returns the reply to the last. */
async function converse(lines: string[]): Promise<{ reply: string; ms: number }> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let buffer = '';
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const end = buffer.search(/^\d{3} .*\r\n/m);
        if (end < 0) return;
        const line = /^\d{3} .*\r\n/m.exec(buffer) as RegExpExecArray;
        buffer = buffer.slice(line.index + line[0].length);
        socket.off('data', onData);
        resolve(line[0].trim());
      };
      const onData = (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        check();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      check();
    });
  await next();
  let reply = '';
  let started = 0;
  for (const line of lines) {
    started = performance.now();
    socket.write(`${line}\r\n`);
    reply = await next();
  }
  socket.destroy();
  return { reply, ms: performance.now() - started };
}

describe('a backend that does not answer a command', () => {
  it('is given backend_command_timeout, not the login wait, and the sender is told 451', async () => {
    const { reply, ms } = await converse([
      'EHLO client.test',
      'MAIL FROM:<sender@example.net>',
      'RCPT TO:<alice@example.com>',
    ]);
    expect(reply).toBe('451 4.4.2 Connection to the mailbox server lost, try again later');
    expect(ms).toBeGreaterThanOrEqual(350);
    expect(ms).toBeLessThan(5000);
  });
});
