import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ImapBackend } from '../src/backend.js';
import { idList, loginReply } from '../src/login.js';
import { astringFor } from '../src/quote.js';

const connection = {
  id: 'sid7',
  client: { address: '192.0.2.7', port: 4711 },
  local: { address: '198.51.100.1', port: 143 },
} as Parameters<typeof idList>[0]['connection'];

/** A backend that answers each command it is sent with `answer(command)`. */
function backend(answer: (command: string) => string): ImapBackend {
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      const line = chunk.toString('latin1');
      socket.push(answer(line));
      done();
    },
  });
  return new ImapBackend(socket as unknown as Socket, 8192);
}

describe('idList', () => {
  it("puts the client's fields first, escaped, then the addresses homing vouches for", () => {
    const extra = [
      ['name', 'Mail "Pro"'],
      ['os', 'C:\\Win'],
    ] as const;
    expect(idList({ connection, extra })).toBe(
      '("name" "Mail \\"Pro\\"" "os" "C:\\\\Win" "x-originating-ip" "192.0.2.7" ' +
        '"x-originating-port" "4711" "x-connected-ip" "198.51.100.1" "x-connected-port" "143" ' +
        '"x-session-id" "sid7")',
    );
  });

  it('is the addresses alone when the client sent no ID', () => {
    expect(idList({ connection, extra: [] })).toBe(
      '("x-originating-ip" "192.0.2.7" "x-originating-port" "4711" "x-connected-ip" ' +
        '"198.51.100.1" "x-connected-port" "143" "x-session-id" "sid7")',
    );
  });
});

describe('astringFor', () => {
  it('quotes printable ASCII, escaping backslash and double quote', () => {
    expect(astringFor('alice@example.org')).toEqual({ quoted: '"alice@example.org"' });
    expect(astringFor('pa"ss\\word')).toEqual({ quoted: '"pa\\"ss\\\\word"' });
    expect(astringFor('')).toEqual({ quoted: '""' });
  });

  it('sends anything else as a literal of its UTF-8 bytes', () => {
    expect(astringFor('pässword')).toEqual({ literal: Buffer.from('pässword', 'utf8') });
    expect(astringFor('a\tb')).toEqual({ literal: Buffer.from('a\tb') });
    expect(astringFor('a\x7fb')).toEqual({ literal: Buffer.from('a\x7fb') });
  });
});

describe('loginReply', () => {
  it("passes the backend's post-login capabilities on at once when its OK carried them", () => {
    const b = backend(() => '');
    const reply = loginReply(
      'a1',
      b,
      { status: 'OK', code: 'CAPABILITY IMAP4rev1 IDLE', text: 'Logged in', untagged: [] },
      { backendLoginTimeoutMs: 1000 } as Parameters<typeof loginReply>[3],
    );
    expect(Array.isArray(reply)).toBe(true);
    expect(Buffer.concat(reply as Buffer[]).toString()).toBe(
      'a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n',
    );
  });

  it('asks the backend for its capabilities when its OK did not carry them', async () => {
    const b = backend((command) =>
      command.includes('CAPABILITY') ? '* CAPABILITY IMAP4rev1 MOVE\r\nH1 OK done\r\n' : '',
    );
    const reply = await loginReply(
      'a2',
      b,
      { status: 'OK', code: undefined, text: '', untagged: [] },
      { backendLoginTimeoutMs: 1000 } as Parameters<typeof loginReply>[3],
    );
    expect(Buffer.concat(reply).toString()).toBe('a2 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n');
  });
});
