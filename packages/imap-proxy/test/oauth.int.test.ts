import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Catalog, Directory, defaultAddressRules, FileSource } from '@homing/directory';
import { AddressSet, BackendHealth, defaultLimits, SessionRegistry } from '@homing/proxy-core';
import { freePort, RawClient, tempDir } from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImapListener } from '../src/index.js';

// A scripted IMAP backend that knows one bearer token: the proxy passes XOAUTH2 and
// OAUTHBEARER through and the backend decides (Dovecot in the harness has no OAuth).
const dir = tempDir('imap-oauth');
let backend: Server;
let proxy: Server;
let port = 0;
const seen: string[] = [];

function fakeBackend(socket: Socket): void {
  socket.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] fake ready\r\n');
  let buffer = '';
  let failing: string | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (failing !== undefined) {
        socket.write(`${failing} NO [AUTHENTICATIONFAILED] invalid token\r\n`);
        failing = undefined;
        continue;
      }
      const [tag, command, mechanism, response] = line.split(' ');
      if (command === 'AUTHENTICATE' && response) {
        const decoded = Buffer.from(response, 'base64').toString('utf8');
        seen.push(`${mechanism} ${decoded}`);
        if (decoded.includes('auth=Bearer good-token'))
          socket.write(`${tag} OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n`);
        else {
          // RFC 7628 §3.2.3: an error challenge, answered by the client, then NO.
          socket.write(`+ ${Buffer.from('{"status":"invalid_token"}').toString('base64')}\r\n`);
          failing = tag;
        }
      } else if (command === 'NOOP') socket.write(`${tag} OK fake NOOP\r\n`);
      else socket.write(`${tag} BAD fake knows little\r\n`);
    }
  });
}

beforeAll(async () => {
  backend = createServer(fakeBackend);
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as { port: number }).port;
  const users = join(dir.path, 'users.yaml');
  writeFileSync(users, 'users:\n  olivia@example.com:\n    home: fake\n');
  const tls = { verify: true };
  const directory = new Directory({
    source: await FileSource.open({ path: users, watch: false, rules: defaultAddressRules }),
    catalog: new Catalog({
      backends: {
        fake: {
          host: '127.0.0.1',
          endpoints: { imap: { port: backendPort, tls: 'none', forward: 'none' } },
          tls,
        },
      },
      literalDefaults: {},
      literalTls: tls,
      allowLiteral: false,
    }),
    rules: defaultAddressRules,
    cache: { maxEntries: 10, ttlMs: 0, negativeTtlMs: 0, staleIfErrorMs: 0 },
  });
  port = await freePort();
  proxy = await startImapListener({
    spec: {
      name: 'oauth',
      host: '127.0.0.1',
      port,
      tls: 'none',
      proxyProtocol: false,
      trustedProxies: new AddressSet([]),
    },
    directory,
    health: new BackendHealth({ backoffMinMs: 100, backoffMaxMs: 100 }),
    limits: { ...defaultLimits, failedLoginDelayMs: 300 },
    registry: new SessionRegistry(),
    tls: undefined,
    allowPlaintext: true,
    oauth: true,
    isOwnAddress: () => false,
    log: pino({ level: 'silent' }),
  });
});

afterAll(() => {
  proxy?.close();
  backend?.close();
  dir.remove();
});

async function authenticate(mechanism: string, raw: string) {
  const client = await RawClient.connect({ port });
  const [greeting] = await client.until(/^\* OK /);
  client.send(`a AUTHENTICATE ${mechanism} ${Buffer.from(raw).toString('base64')}`);
  const reply = (await client.until(/^a /)).at(-1) as string;
  return { client, greeting: greeting as string, reply };
}

describe('OAuth pass-through', () => {
  it('offers XOAUTH2 and OAUTHBEARER when enabled', async () => {
    const { client, greeting } = await authenticate(
      'XOAUTH2',
      'user=olivia@example.com\u0001auth=Bearer good-token\u0001\u0001',
    );
    expect(greeting).toContain('AUTH=XOAUTH2 AUTH=OAUTHBEARER');
    client.close();
  });

  it('XOAUTH2: the backend checks the token, the session is spliced', async () => {
    const { client, reply } = await authenticate(
      'XOAUTH2',
      'user=olivia@example.com\u0001auth=Bearer good-token\u0001\u0001',
    );
    expect(reply).toBe('a OK [CAPABILITY IMAP4rev1 IDLE] Logged in');
    expect(seen.at(-1)).toBe(
      'XOAUTH2 user=olivia@example.com\u0001auth=Bearer good-token\u0001\u0001',
    );
    client.send('b NOOP');
    expect((await client.until(/^b /)).at(-1)).toBe('b OK fake NOOP');
    client.close();
  });

  it('OAUTHBEARER: the user comes from the GS2 header', async () => {
    const { client, reply } = await authenticate(
      'OAUTHBEARER',
      'n,a=olivia@example.com,\u0001auth=Bearer good-token\u0001\u0001',
    );
    expect(reply).toMatch(/^a OK /);
    client.close();
  });

  it('a bad token fails like a bad password, after the error challenge is answered', async () => {
    const { client, reply } = await authenticate(
      'XOAUTH2',
      'user=olivia@example.com\u0001auth=Bearer stolen\u0001\u0001',
    );
    expect(reply).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed.');
    client.close();
  });

  it('an unknown user never reaches the backend', async () => {
    const before = seen.length;
    const { client, reply } = await authenticate(
      'XOAUTH2',
      'user=nobody@example.com\u0001auth=Bearer good-token\u0001\u0001',
    );
    expect(reply).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed.');
    expect(seen.length).toBe(before);
    client.close();
  });
});
