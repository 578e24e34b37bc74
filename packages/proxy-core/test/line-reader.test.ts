import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectWithOwnReads } from '../src/backend-reads.js';
import { ConnectionClosedError, LineReader } from '../src/line-reader.js';

let server: Server | undefined;

afterEach(() => {
  server?.close();
  server = undefined;
});

/** A plain backend connection (its reads homing's own) to a server that runs `serve`. */
async function backend(serve: (socket: Socket) => void): Promise<Socket> {
  server = createServer(serve);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const socket = connectWithOwnReads('127.0.0.1', port);
  await once(socket, 'connect');
  return socket;
}

describe('LineReader of a plain backend', () => {
  it("takes the socket's reads without 'data' events; what comes after detach stays for the splice", async () => {
    let peer: Socket | undefined;
    const socket = await backend((s) => {
      peer = s;
      s.write('* OK ready\r\nH1 OK do');
    });
    const reader = new LineReader(socket, 1000);
    expect(socket.listenerCount('data')).toBe(0);
    expect((await reader.readLine()).toString()).toBe('* OK ready');
    peer?.write('ne\r\n');
    expect((await reader.readLine()).toString()).toBe('H1 OK done');
    expect(reader.detach()).toHaveLength(0);
    peer?.write('* after the login\r\n');
    await once(socket, 'readable');
    expect(String(socket.read())).toBe('* after the login\r\n');
    socket.destroy();
  });

  it('takes a line that came with the one before it without waiting; none while no line is whole', async () => {
    const socket = await backend((s) => s.write('* ID NIL\r\nH1 OK ID done\r\nH2 OK Logg'));
    const reader = new LineReader(socket, 1000);
    expect((await reader.readLine()).toString()).toBe('* ID NIL');
    expect(reader.takeLine()?.toString()).toBe('H1 OK ID done');
    expect(reader.takeLine()).toBeUndefined();
    socket.destroy();
  });

  it('says the connection closed when the backend closes before a whole line', async () => {
    const socket = await backend((s) => s.end('* OK ready\r\npartial'));
    const reader = new LineReader(socket, 1000);
    expect((await reader.readLine()).toString()).toBe('* OK ready');
    await expect(reader.readLine(AbortSignal.timeout(5000))).rejects.toBeInstanceOf(
      ConnectionClosedError,
    );
    socket.destroy();
  });
});
