import { MariaDb, makeCertificates, Postgres, tempDir } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlSource, type SqlSourceOptions } from '../src/index.js';

// TLS towards the database: verified against the configured CA, refused without it.
const certDir = tempDir('sql-tls-certs');
const certs = makeCertificates(certDir.path);
afterAll(() => certDir.remove());

interface Server {
  url(options?: string): string;
  exec(sql: string): void;
  destroy(): Promise<void>;
}

describe.each([
  ['PostgreSQL', (): Promise<Server> => Postgres.start({ tls: certs }), 'sslmode=verify-full'],
  ['MariaDB', (): Promise<Server> => MariaDb.start({ tls: certs }), 'ssl=true'],
])('SQL over TLS to %s', (_name, start, tlsQuery) => {
  let server: Server;
  beforeAll(async () => {
    server = await start();
    server.exec('CREATE TABLE mailbox (username VARCHAR(255), home VARCHAR(255));');
    server.exec("INSERT INTO mailbox VALUES ('alice@example.com', 'mbox-a');");
  }, 60_000);
  afterAll(() => server?.destroy());

  async function find(options: Partial<SqlSourceOptions>) {
    const source = new SqlSource({
      urls: [server.url(tlsQuery)],
      query: 'SELECT home FROM mailbox WHERE username = :address',
      defaultPasswordScheme: 'SHA512-CRYPT',
      maxConnections: 1,
      timeoutMs: 3000,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 60_000,
      tls: { verify: true, caFile: certs.caCert },
      ...options,
    });
    try {
      const address = { key: 'alice@example.com', local: 'alice', domain: 'example.com' };
      return await source.find(address);
    } finally {
      await source.close();
    }
  }

  it('connects when the certificate verifies against the configured CA', async () => {
    expect((await find({}))?.home).toBe('mbox-a');
  });

  it('refuses a certificate no trusted CA signed', async () => {
    const failure = await find({ tls: { verify: true } }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE' });
    expect((failure as Error).message).toMatch(/certificate/i);
  });

  it('connects unverified only when told to', async () => {
    expect((await find({ tls: { verify: false } }))?.home).toBe('mbox-a');
  });

  it('speaks TLS only when the URL asks for it', async () => {
    expect((await find({ urls: [server.url()], tls: { verify: true } }))?.home).toBe('mbox-a');
  });
});
