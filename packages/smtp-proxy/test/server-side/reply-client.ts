import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';

/** A client that reads whole SMTP replies: `send` writes and returns the reply lines that follow. */
export interface ReplyClient {
  readonly socket: Socket;
  replies(count?: number): Promise<string[]>;
  send(text: string, count?: number): Promise<string[]>;
  closed(): boolean;
  close(): void;
}

/** Connects to a listener on loopback and waits for its greeting. */
export async function openReplyClient(port: number): Promise<ReplyClient> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let buffer = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
  });
  socket.on('close', () => {
    closed = true;
  });
  const replies = async (count = 1): Promise<string[]> => {
    const done = () => (buffer.match(/^\d{3} [^\r\n]*\r\n/gm) ?? []).length >= count;
    await expect.poll(() => done() || closed, { timeout: 3000 }).toBe(true);
    const lines: string[] = [];
    let seen = 0;
    while (seen < count) {
      const end = buffer.indexOf('\r\n');
      if (end < 0) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      lines.push(line);
      if (/^\d{3} /.test(line)) seen += 1;
    }
    return lines;
  };
  await replies();
  return {
    socket,
    replies,
    closed: () => closed,
    close: () => socket.destroy(),
    async send(text: string, count = 1): Promise<string[]> {
      socket.write(text);
      return replies(count);
    },
  };
}
