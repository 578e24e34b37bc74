/**
 * The floor under any IMAP or POP3 proxy on this machine, run by the bench as its own process:
 * it greets, reads the login (IMAP LOGIN, or POP3 USER and PASS), connects to Dovecot, replays
 * it there line by line, drops Dovecot's greeting (and its answer to USER) and pipes both
 * sockets. No directory, no logs, no limits. Argument: JSON of the listeners, see PipeSpec.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

export interface PipeSpec {
  readonly listeners: readonly {
    readonly protocol: 'imap' | 'pop3';
    readonly port: number;
    readonly tls: boolean;
    readonly backendPort: number;
  }[];
  readonly cert: string;
  readonly key: string;
  /**
   * One of several pipe processes on the same ports: each listens on a socket of its own
   * (SO_REUSEPORT, Node 22.12 and later) and they share `ticketKeys` (a file of 48 bytes), so a
   * TLS session one of them began resumes on another, as with homing's workers.
   */
  readonly pool?: { readonly ticketKeys: string };
}

/** Reads whole lines off `socket` until `count` are in, then hands them and any rest over. */
function takeLines(
  socket: Socket,
  count: number,
  onLine: (n: number) => void,
  done: (head: Buffer) => void,
): void {
  let head = Buffer.alloc(0);
  let lines = 0;
  const onData = (chunk: Buffer) => {
    let from = head.length;
    head = Buffer.concat([head, chunk]);
    for (let lf = head.indexOf(10, from); lf !== -1 && lines < count; lf = head.indexOf(10, from)) {
      lines += 1;
      from = lf + 1;
      onLine(lines);
    }
    if (lines < count) return;
    socket.off('data', onData);
    socket.pause();
    done(head);
  };
  socket.on('data', onData);
}

function serve(client: Socket, protocol: 'imap' | 'pop3', backendPort: number): void {
  let backend: Socket | undefined;
  const closeBoth = () => {
    client.destroy();
    backend?.destroy();
  };
  client.on('error', closeBoth);
  client.write(protocol === 'imap' ? '* OK pipe ready\r\n' : '+OK pipe ready\r\n');
  const loginLines = protocol === 'imap' ? 1 : 2;
  const answerUser = (n: number) => {
    if (protocol === 'pop3' && n === 1) client.write('+OK\r\n');
  };
  takeLines(client, loginLines, answerUser, (login) => {
    const server = connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
    backend = server;
    server.on('error', closeBoth);
    // One login line after each of Dovecot's replies (its greeting, then its +OK to USER), as a
    // client would: written ahead, USER and PASS leave Dovecot's +OK unacknowledged when its
    // answer to PASS is due, and that short answer waits for the pipe's delayed ACK (40 ms).
    const lines = splitAfterLines(login, loginLines);
    takeLines(
      server,
      loginLines,
      (n) => server.write(lines[n - 1] as Buffer),
      (head) => {
        const afterSkipped = nthLineEnd(head, loginLines);
        client.write(head.subarray(afterSkipped));
        server.pipe(client);
        client.pipe(server);
        server.resume();
        client.resume();
      },
    );
  });
}

/** The first `n` lines of `buffer`, the last of them with whatever follows it. */
function splitAfterLines(buffer: Buffer, n: number): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 1; i < n; i++) {
    const end = nthLineEnd(buffer, i);
    parts.push(buffer.subarray(from, end));
    from = end;
  }
  parts.push(buffer.subarray(from));
  return parts;
}

function nthLineEnd(buffer: Buffer, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = buffer.indexOf(10, at) + 1;
  return at;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as PipeSpec;
const credentials = {
  cert: readFileSync(spec.cert),
  key: readFileSync(spec.key),
  ...(spec.pool ? { ticketKeys: readFileSync(spec.pool.ticketKeys) } : {}),
};
let listening = 0;
for (const l of spec.listeners) {
  const accept = (socket: Socket) => serve(socket, l.protocol, l.backendPort);
  // Without noDelay the pipe's own short answers wait for the client's delayed ACK (40 ms).
  const options = { noDelay: true };
  const server = l.tls
    ? createTlsServer({ ...credentials, ...options }, accept)
    : createServer(options, accept);
  server.listen({ port: l.port, host: '127.0.0.1', reusePort: spec.pool !== undefined }, () => {
    listening += 1;
    if (listening === spec.listeners.length) console.log('pipe ready');
  });
}
