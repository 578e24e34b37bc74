import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../src/limits.js';
import type { ClientConnection } from '../src/listener.js';
import { noMetrics } from '../src/metrics.js';
import { PreloginSession } from '../src/prelogin-session.js';
import { SessionRegistry } from '../src/sessions.js';
import { AddressSet } from '../src/trusted.js';

/** A session of lines: `wait…` lines wait until the test lets them go, others are answered at once. */
class LineSession extends PreloginSession<string> {
  protected readonly protocol = 'imap';
  protected readonly texts = {
    idle: '* BYE idle',
    authTimeout: '* BYE auth',
    kicked: '* BYE kicked',
    shutdown: '* BYE shutdown',
    internalError: '* BYE internal error',
  };
  readonly handled: string[] = [];
  readonly waiting = new Map<string, (error?: Error) => void>();
  #lines: string[] = [];
  #rest = '';

  protected greeting(): string {
    return '* OK ready';
  }

  protected push(chunk: Buffer): void {
    const parts = (this.#rest + chunk.toString('latin1')).split('\r\n');
    this.#rest = parts.pop() ?? '';
    this.#lines.push(...parts);
  }

  protected next(): string | undefined {
    return this.#lines.shift();
  }

  protected takeRest(): Buffer {
    return Buffer.from(this.#rest, 'latin1');
  }

  protected handle(line: string): Promise<void> | undefined {
    this.handled.push(line);
    if (!line.startsWith('wait')) {
      this.reply(`${line} done`);
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(line, (error) => {
        if (error) return reject(error);
        this.reply(`${line} done`);
        resolve();
      });
    });
  }
}

function session(): { session: LineSession; socket: Duplex; written: string[] } {
  const written: string[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk.toString('latin1'));
      done();
    },
  });
  const log = pino({ level: 'silent' });
  const connection = {
    id: 's1',
    socket,
    secure: false,
    client: { address: '192.0.2.1', port: 4711 },
    local: { address: '198.51.100.1', port: 143 },
    listener: {
      name: 'imap',
      host: '127.0.0.1',
      port: 143,
      tls: 'none',
      proxyProtocol: false,
      trustedProxies: new AddressSet([]),
    },
    log,
    listenerLog: log,
    keepAliveMs: 0,
    metrics: noMetrics,
    guard: undefined,
  } as unknown as ClientConnection;
  const s = new LineSession(connection, defaultLimits, new SessionRegistry());
  s.start();
  return { session: s, socket, written };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('PreloginSession', () => {
  it('reads on through commands answered at once; pauses the client only while one waits', async () => {
    const { session: s, socket, written } = session();
    let pauses = 0;
    socket.on('pause', () => {
      pauses += 1;
    });
    socket.push('a1\r\na2\r\n');
    await turn();
    expect(s.handled).toEqual(['a1', 'a2']);
    expect(pauses).toBe(0);

    // A command that waits holds back the ones pipelined after it, which come in order.
    socket.push('wait1\r\na3\r\n');
    await turn();
    expect(s.handled).toEqual(['a1', 'a2', 'wait1']);
    expect(socket.isPaused()).toBe(true);
    socket.push('a4\r\n');
    await turn();
    expect(s.handled).toEqual(['a1', 'a2', 'wait1']);
    s.waiting.get('wait1')?.();
    await turn();
    expect(s.handled).toEqual(['a1', 'a2', 'wait1', 'a3', 'a4']);
    expect(socket.isPaused()).toBe(false);
    expect(written.join('')).toBe(
      '* OK ready\r\na1 done\r\na2 done\r\nwait1 done\r\na3 done\r\na4 done\r\n',
    );
    s.kick('shutdown');
  });

  it('closes the session with the internal error line when a waiting command fails', async () => {
    const { session: s, socket, written } = session();
    socket.push('wait1\r\na1\r\n');
    await turn();
    s.waiting.get('wait1')?.(new Error('boom'));
    await turn();
    expect(s.handled).toEqual(['wait1']);
    expect(written.at(-1)).toBe('* BYE internal error\r\n');
    expect(socket.writableEnded).toBe(true);
  });
});
