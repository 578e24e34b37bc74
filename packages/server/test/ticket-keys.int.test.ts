import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from './node-process.js';

const dir = tempDir('tickets');
const keyFile = join(dir.path, 'ticket.key');
const nodes: { process: NodeProcess; port: number; config: string }[] = [];
let ca: string;

/**
 * One TLS connection with openssl s_client to an implicit-TLS IMAP port, saving its session
 * to `out` or offering the one in `from`; resolves with "New" or "Reused".
 */
async function handshake(
  port: number,
  version: '-tls1_2' | '-tls1_3',
  session: { out?: string; from?: string },
): Promise<string> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, version, '-CAfile', ca];
  if (session.out) args.push('-sess_out', session.out);
  if (session.from) args.push('-sess_in', session.from);
  const child = spawn('openssl', args);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    // The greeting comes after TLS 1.3's session ticket: by then the session can be saved.
    if (output.includes('* OK')) child.stdin.end('a LOGOUT\r\n');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const kind = /^(New|Reused), TLSv1\.[23]/m.exec(output)?.[1];
  if (code !== 0 || !kind || !output.includes('* OK'))
    throw new Error(`openssl s_client exited ${code}:\n${output}`);
  return kind;
}

beforeAll(async () => {
  const certs = makeCertificates(dir.path);
  ca = certs.caCert;
  writeFileSync(keyFile, randomBytes(48));
  writeFileSync(join(dir.path, 'users.yaml'), 'users: {}\n');
  for (const name of ['one', 'two']) {
    const port = await freePort();
    const config = join(dir.path, `${name}.yaml`);
    writeFileSync(
      config,
      `log: { format: json }
directory:
  source: file
  file: { path: users.yaml }
listeners:
  - { protocol: imap, listen: 127.0.0.1:${port}, tls: implicit }
tls:
  certificates:
    - { cert: ${certs.cert}, key: ${certs.key} }
  session_ticket_keys: ticket.key
backend_health: { probe_interval: 0s }
`,
    );
    nodes.push({ process: new NodeProcess(config), port, config });
  }
  await Promise.all(nodes.map((n) => n.process.waitFor('homing ready')));
});

afterAll(() => {
  for (const n of nodes) n.process.signal('SIGKILL');
  dir.remove();
});

describe('tls.session_ticket_keys', () => {
  it.each(['-tls1_2', '-tls1_3'] as const)(
    'a %s session from node one resumes on node two',
    async (version) => {
      const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      const session = join(dir.path, `session${version}.pem`);
      expect(await handshake(one.port, version, { out: session })).toBe('New');
      expect(await handshake(two.port, version, { from: session })).toBe('Reused');
    },
  );

  it('no longer resumes once the key is rotated out and the node reloaded', async () => {
    const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const session = join(dir.path, 'session-before-rotation.pem');
    expect(await handshake(one.port, '-tls1_3', { out: session })).toBe('New');
    writeFileSync(keyFile, randomBytes(48));
    const from = two.process.output.length;
    two.process.signal('SIGHUP');
    await two.process.waitFor('config reloaded', 10_000, from);
    expect(await handshake(two.port, '-tls1_3', { from: session })).toBe('New');
    // A session with the new key resumes again.
    const fresh = join(dir.path, 'session-after-rotation.pem');
    expect(await handshake(two.port, '-tls1_3', { out: fresh })).toBe('New');
    expect(await handshake(two.port, '-tls1_3', { from: fresh })).toBe('Reused');
  });

  it('refuses a key file of the wrong length', async () => {
    const [, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    writeFileSync(keyFile, randomBytes(80));
    const from = two.process.output.length;
    two.process.signal('SIGHUP');
    await two.process.waitFor('48 bytes', 10_000, from);
    writeFileSync(keyFile, randomBytes(48));
  });
});
