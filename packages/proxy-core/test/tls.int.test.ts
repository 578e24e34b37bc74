import { createServer, connect as netConnect, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, connect as tlsConnect } from 'node:tls';
import { issueServerCertificate, makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerTls } from '../src/tls.js';

const dir = tempDir('tls');
afterAll(() => dir.remove());

/** Serves one TLS handshake with ServerTls on a plain TCP listener, as the proxy does. */
async function presentedName(tls: ServerTls, servername: string, ca: string): Promise<string> {
  const server = createServer((socket: Socket) => {
    tls.accept(socket).then(
      (secure) => secure.end(),
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<string>((resolve, reject) => {
      const plain = netConnect({ port, host: '127.0.0.1' });
      const secure = tlsConnect({ socket: plain, servername, ca, rejectUnauthorized: false });
      secure.once('secureConnect', () => {
        resolve(secure.getPeerX509Certificate()?.subjectAltName ?? '');
        secure.destroy();
      });
      secure.once('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('ServerTls', () => {
  const certs = makeCertificates(dir.path);
  const other = issueServerCertificate(certs, dir.path, 'other', ['imap.example.org']);
  const tls = new ServerTls([
    { cert: certs.cert, key: certs.key },
    { cert: other.cert, key: other.key },
  ]);

  it('chooses the certificate by SNI, the first one by default', async () => {
    expect(await presentedName(tls, 'imap.example.org', certs.caCertPem)).toContain(
      'imap.example.org',
    );
    expect(await presentedName(tls, 'localhost', certs.caCertPem)).toContain('localhost');
    expect(await presentedName(tls, 'unknown.example.net', certs.caCertPem)).toContain('localhost');
  });

  it('serves new certificates after reload', async () => {
    const reloaded = new ServerTls([{ cert: certs.cert, key: certs.key }]);
    reloaded.reload([{ cert: other.cert, key: other.key }]);
    expect(await presentedName(reloaded, 'localhost', certs.caCertPem)).toContain(
      'imap.example.org',
    );
  });

  it('refuses TLS 1.1 (a client able to speak it connects to a server that allows it)', async () => {
    const old = {
      maxVersion: 'TLSv1.1',
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    } as const;
    const handshake = async (accept: (socket: Socket) => void) => {
      const server = createServer(accept);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const outcome = await new Promise<string>((resolve) => {
        const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...old });
        s.once('secureConnect', () => {
          resolve(s.getProtocol() ?? 'connected');
          s.destroy();
        });
        s.once('error', () => resolve('refused'));
      });
      server.close();
      return outcome;
    };
    const permissive = createSecureContext({
      cert: certs.certPem,
      key: certs.keyPem,
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    const control = await handshake((socket) => {
      const secure = new TLSSocket(socket, { isServer: true, secureContext: permissive });
      secure.on('error', () => socket.destroy());
    });
    expect(control).toBe('TLSv1.1');
    expect(await handshake((socket) => void tls.accept(socket).catch(() => socket.destroy()))).toBe(
      'refused',
    );
  });
});
