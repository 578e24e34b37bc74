import { connect, type Server, type Socket } from 'node:net';
import { freePort } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpKind, startSmtpListener } from '../src/index.js';
import { smtpListenerOptions } from './listener-options.js';
import { unreachableDirectory } from './unreachable-directory.js';

// Nothing here reaches a backend or the directory: only the greeting is looked at.
const directory = unreachableDirectory();
const servers: Server[] = [];
const ports = new Map<string, number>();
const pauseMs = 300;

async function listener(name: string, kind: SmtpKind, greetingDelayMs?: number): Promise<void> {
  const port = await freePort();
  ports.set(name, port);
  const options = smtpListenerOptions(name, port, kind, directory, {
    greetingDelayMs,
    submission: { mode: 'home', allowPlaintext: true, oauth: false },
  });
  servers.push(await startSmtpListener(options));
}

beforeAll(async () => {
  await listener('mx', 'mx');
  await listener('lmtp', 'lmtp');
  await listener('submission', 'submission');
  await listener('paused', 'mx', pauseMs);
});

afterAll(async () => {
  for (const s of servers) s.close();
  await directory.close();
});

/** Connects, optionally talks at once, and collects what comes back until the server closes or `untilMs`. */
function session(
  port: number,
  options: { talk?: string; untilMs?: number } = {},
): Promise<{ firstReplyMs: number; text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let connectedAt = 0;
    let firstReplyMs = Number.NaN;
    let text = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ firstReplyMs, text, closed });
    };
    const timer = setTimeout(finish, options.untilMs ?? 2000);
    socket.once('connect', () => {
      connectedAt = performance.now();
      if (options.talk) socket.write(options.talk);
    });
    socket.on('data', (chunk: Buffer) => {
      if (text === '') firstReplyMs = performance.now() - connectedAt;
      text += chunk.toString('latin1');
      if (!options.talk && !options.untilMs && text.endsWith('\r\n')) finish();
    });
    socket.once('close', () => {
      closed = true;
      finish();
    });
    socket.once('error', reject);
  });
}

describe('greeting', () => {
  for (const name of ['mx', 'lmtp', 'submission']) {
    it(`${name}: the 220 comes at once by default`, async () => {
      const port = ports.get(name) as number;
      const times: number[] = [];
      for (let i = 0; i < 15; i += 1) {
        const { firstReplyMs, text } = await session(port);
        expect(text).toMatch(/^220 homing\.test /);
        times.push(firstReplyMs);
      }
      times.sort((a, b) => a - b);
      // Without greeting_delay the 220 is written on accept; a shared test machine gets some
      // slack above 1 ms.
      expect(times[Math.floor(times.length / 2)]).toBeLessThan(10);
    });
  }

  it('a configured pause delays the greeting for a patient client', async () => {
    const { firstReplyMs, text } = await session(ports.get('paused') as number);
    expect(text).toMatch(/^220 homing\.test /);
    expect(firstReplyMs).toBeGreaterThanOrEqual(pauseMs - 5);
  });

  it('a client that talks during the pause is refused and disconnected', async () => {
    const { text, closed } = await session(ports.get('paused') as number, {
      talk: 'EHLO early.example\r\n',
      untilMs: 3000,
    });
    expect(text).toMatch(/^421 .*You talk too soon/m);
    expect(text).not.toMatch(/^220 /m);
    expect(closed).toBe(true);
  });

  it('without a pause the same client is served', async () => {
    const { text } = await session(ports.get('mx') as number, {
      talk: 'EHLO early.example\r\n',
      untilMs: 300,
    });
    expect(text).toMatch(/^220 homing\.test /m);
    expect(text).toMatch(/^250[- ]homing\.test/m);
  });
});
