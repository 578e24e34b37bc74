import { readFileSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Backend } from '@homing/directory';
import { parseSieveLine } from '@homing/managesieve-proxy';
import { connectTls, encodePlain, LineReader } from '@homing/proxy-core';

/** A Sieve script of the user's, as LISTSCRIPTS names it (RFC 5804 §2.7). */
export interface ScriptName {
  readonly name: string;
  readonly active: boolean;
}

const maxLine = 64 * 1024;
/** A script larger than this is not a filter: the move stops rather than hold it. */
const maxScript = 16 * 1024 * 1024;

/**
 * A ManageSieve client (RFC 5804) for a move: logs in as the user with the backend's master
 * credentials, lists, reads, writes, activates and deletes scripts. Every command waits at most
 * `timeoutMs` for its answer.
 */
export class SieveClient {
  #socket: Socket | TLSSocket;
  #reader: LineReader;

  private constructor(
    socket: Socket | TLSSocket,
    private readonly timeoutMs: number,
  ) {
    this.#socket = socket;
    this.#reader = new LineReader(socket, maxLine);
  }

  static async open(backend: Backend, login: string, timeoutMs: number): Promise<SieveClient> {
    const endpoint = backend.endpoints.managesieve;
    const master = backend.master;
    if (!endpoint) throw new Error(`backend ${backend.name} has no managesieve service`);
    if (!master) throw new Error(`backend ${backend.name} has no master credentials`);
    const tls: ConnectionOptions = {
      rejectUnauthorized: backend.tls.verify,
      servername: backend.tls.servername ?? backend.host,
      ...(backend.tls.caFile ? { ca: readFileSync(backend.tls.caFile) } : {}),
    };
    const signal = AbortSignal.timeout(timeoutMs);
    const socket = await open(
      backend.host,
      endpoint.port,
      endpoint.tls === 'implicit' ? tls : undefined,
      signal,
    );
    const client = new SieveClient(socket, timeoutMs);
    try {
      await client.#expectOk(await client.#response());
      if (endpoint.tls === 'starttls') {
        client.#send('STARTTLS');
        await client.#expectOk(await client.#response());
        client.#reader.detach();
        client.#socket = await connectTls(socket as Socket, tls, signal);
        client.#reader = new LineReader(client.#socket, maxLine);
        await client.#expectOk(await client.#response());
      }
      const plain = encodePlain(login, master.user, master.password).toString('base64');
      client.#send(`AUTHENTICATE "PLAIN" "${plain}"`);
      await client.#expectOk(await client.#response(), `log in as ${login}`);
      return client;
    } catch (error) {
      client.close();
      throw new Error(
        `${backend.name} (ManageSieve): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async list(): Promise<ScriptName[]> {
    this.#send('LISTSCRIPTS');
    const scripts: ScriptName[] = [];
    await this.#expectOk(
      await this.#response((name, rest) => {
        scripts.push({ name, active: /^\s*ACTIVE\s*$/i.test(rest) });
      }),
      'LISTSCRIPTS',
    );
    return scripts;
  }

  async get(name: string): Promise<Buffer> {
    this.#send(`GETSCRIPT ${quote(name)}`);
    let script: Buffer | undefined;
    await this.#expectOk(
      await this.#response((_text, _rest, literal) => {
        script = literal;
      }),
      `GETSCRIPT ${name}`,
    );
    if (!script) throw new Error(`GETSCRIPT ${name}: no script in the answer`);
    return script;
  }

  async put(name: string, script: Buffer): Promise<void> {
    this.#socket.write(`PUTSCRIPT ${quote(name)} {${script.length}+}\r\n`);
    this.#socket.write(script);
    this.#send('');
    await this.#expectOk(await this.#response(), `PUTSCRIPT ${name}`);
  }

  /** "" deactivates whatever is active. */
  async setActive(name: string): Promise<void> {
    this.#send(`SETACTIVE ${quote(name)}`);
    await this.#expectOk(await this.#response(), `SETACTIVE ${name}`);
  }

  async remove(name: string): Promise<void> {
    this.#send(`DELETESCRIPT ${quote(name)}`);
    await this.#expectOk(await this.#response(), `DELETESCRIPT ${name}`);
  }

  async logout(): Promise<void> {
    this.#send('LOGOUT');
    await this.#response().catch(() => undefined);
    this.close();
  }

  close(): void {
    this.#socket.destroy();
  }

  #send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  /**
   * Reads data lines until the response (OK/NO/BYE). Each data line is a quoted string or a
   * literal, then the rest of the line: `item` gets the text, the rest and (literal) the bytes.
   */
  async #response(
    item?: (text: string, rest: string, literal?: Buffer) => void,
  ): Promise<{ ok: boolean; text: string }> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    for (;;) {
      const raw = await this.#reader.readLine(signal);
      const literal = /^\{(\d+)\+?\}$/.exec(raw.toString('latin1'));
      if (literal) {
        const size = Number(literal[1]);
        if (size > maxScript) throw new Error(`a ${size}-byte literal: too large`);
        const bytes = Buffer.from(await this.#reader.readBytes(size, signal));
        const rest = (await this.#reader.readLine(signal)).toString('utf8');
        item?.(bytes.toString('utf8'), rest, bytes);
        continue;
      }
      const parsed = parseSieveLine(raw);
      if (parsed?.kind === 'response') return { ok: parsed.status === 'OK', text: parsed.text };
      const quoted = /^"((?:[^"\\]|\\["\\])*)"(.*)$/.exec(raw.toString('utf8'));
      // Capability lines ("NAME" "value") come here too: the greeting's item is ignored.
      if (quoted) item?.((quoted[1] as string).replace(/\\(["\\])/g, '$1'), quoted[2] ?? '');
      else throw new Error(`unexpected line: ${raw.toString('utf8').slice(0, 200)}`);
    }
  }

  async #expectOk(reply: { ok: boolean; text: string }, what = 'greeting'): Promise<void> {
    if (!reply.ok) throw new Error(`${what}: ${reply.text || 'refused'}`);
  }
}

function quote(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new Error('a script name with a line break');
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

function open(
  host: string,
  port: number,
  tls: ConnectionOptions | undefined,
  signal: AbortSignal,
): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ ...tls, host, port }) : tcpConnect({ host, port });
    const fail = (error: unknown) => {
      socket.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const abort = () => fail(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    socket.once('error', fail);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      signal.removeEventListener('abort', abort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
