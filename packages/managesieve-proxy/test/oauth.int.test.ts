import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Catalog, Directory, defaultAddressRules, FileSource } from '@homing/directory';
import { AddressSet, BackendHealth, defaultLimits, SessionRegistry } from '@homing/proxy-core';
import { freePort, RawClient, tempDir } from '@homing/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManageSieveListener } from '../src/index.js';

// A scripted ManageSieve backend that knows one bearer token: the proxy passes XOAUTH2 and
// OAUTHBEARER through and the backend decides (the test Dovecot has no OAuth).
const dir = tempDir('sieve-oauth');
let backend: Server;
let proxy: Server;
let port = 0;
const seen: string[] = [];
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function fakeBackend(socket: Socket): void {
  socket.write('"IMPLEMENTATION" "fake"\r\n"SASL" "XOAUTH2 OAUTHBEARER"\r\n');
  socket.write('"SIEVE" "fileinto"\r\n"VERSION" "1.0"\r\nOK "fake ready"\r\n');
  let buffer = '';
  let failing = false;
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (failing) {
        seen.push(`answer ${line}`);
        socket.write('NO "invalid token"\r\n');
        failing = false;
        continue;
      }
      const auth = /^AUTHENTICATE "([A-Z0-9]+)" "([^"]*)"$/.exec(line);
      if (auth) {
        const decoded = Buffer.from(auth[2] as string, 'base64').toString('utf8');
        seen.push(`${auth[1]} ${decoded}`);
        if (decoded.includes('auth=Bearer good-token')) socket.write('OK "Logged in."\r\n');
        else {
          // RFC 7628 §3.2.3: an error challenge, answered by the client, then NO.
          socket.write(`"${b64('{"status":"invalid_token"}')}"\r\n`);
          failing = true;
        }
      } else if (line === 'NOOP') socket.write('OK "fake NOOP"\r\n');
      else socket.write('NO "fake knows little"\r\n');
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
          endpoints: { managesieve: { port: backendPort, tls: 'none', forward: 'none' } },
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
  proxy = await startManageSieveListener({
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
  const greeting = await client.until(/^OK/);
  client.send(`AUTHENTICATE "${mechanism}" "${b64(raw)}"`);
  const reply = (await client.until(/^(OK|NO|BYE)/)).at(-1) as string;
  return { client, greeting, reply };
}

describe('OAuth pass-through', () => {
  it('offers XOAUTH2 and OAUTHBEARER when enabled', async () => {
    const client = await RawClient.connect({ port });
    expect(await client.until(/^OK/)).toContain('"SASL" "PLAIN XOAUTH2 OAUTHBEARER"');
    client.close();
  });

  it('XOAUTH2: the backend checks the token, the session is spliced', async () => {
    const token = 'user=olivia@example.com\u0001auth=Bearer good-token\u0001\u0001';
    const { client, reply } = await authenticate('XOAUTH2', token);
    expect(reply).toBe('OK "Logged in."');
    expect(seen.at(-1)).toBe(`XOAUTH2 ${token}`);
    client.send('NOOP');
    expect((await client.until(/^OK/)).at(-1)).toBe('OK "fake NOOP"');
    client.close();
  });

  it('OAUTHBEARER: the user comes from the GS2 header', async () => {
    const token = 'n,a=olivia@example.com,\u0001auth=Bearer good-token\u0001\u0001';
    const { client, reply } = await authenticate('OAUTHBEARER', token);
    expect(reply).toBe('OK "Logged in."');
    client.close();
  });

  it('a bad token: the error challenge gets the dummy answer, the client the one failure', async () => {
    const token = 'n,a=olivia@example.com,\u0001auth=Bearer bad-token\u0001\u0001';
    const { client, reply } = await authenticate('OAUTHBEARER', token);
    expect(reply).toBe('NO "Authentication failed."');
    // RFC 7628 §3.2.3: the client's part of an error is a single 0x01, as a string.
    expect(seen.at(-1)).toBe('answer "AQ=="');
    client.close();
  });

  it('an OAuth message that names no user fails like a bad token', async () => {
    const { client, reply } = await authenticate('XOAUTH2', 'auth=Bearer x\u0001\u0001');
    expect(reply).toBe('NO "Authentication failed."');
    client.close();
  });
});
