import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ensureDebianPackages } from './system.js';

/** A test CA and a server certificate it signed: file paths plus the PEM text of each. */
export interface Certificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

/** A server certificate and its key, as files and PEM text. */
export interface ServerCertificate {
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

const days = '30';

/**
 * Creates, in `dir`, a throwaway CA (`ca.crt`, `ca.key`) and a server certificate signed by it
 * (`server.crt`, `server.key`) for `localhost` and 127.0.0.1 plus `extraNames` (DNS names or IP
 * addresses, e.g. `imap.example.com` for SNI tests). Keys are EC P-256, which is quick to make.
 * Node's tls accepts the server when given `ca: caCertPem`.
 */
export function makeCertificates(dir: string, extraNames: readonly string[] = []): Certificates {
  ensureDebianPackages({ openssl: 'openssl' });
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const config = join(dir, 'ca.cnf');
  writeFileSync(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = homing test CA',
      '[ca_ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', caKey);
  openssl(
    'req',
    '-new',
    '-x509',
    '-sha256',
    '-days',
    days,
    '-config',
    config,
    '-extensions',
    'ca_ext',
    '-key',
    caKey,
    '-out',
    caCert,
  );
  const server = issueServerCertificate({ caCert, caKey }, dir, 'server', [
    'localhost',
    '127.0.0.1',
    ...extraNames,
  ]);
  return { caCert, caKey, ...server, caCertPem: readFileSync(caCert, 'utf8') };
}

/**
 * Another certificate from the same CA: `<basename>.crt` and `<basename>.key` in `dir`, for the
 * given names (the first is also the subject CN). For tests that want one certificate per name.
 */
export function issueServerCertificate(
  ca: { caCert: string; caKey: string },
  dir: string,
  basename: string,
  names: readonly string[],
): ServerCertificate {
  const [first] = names;
  if (first === undefined) throw new Error('a certificate needs at least one name');
  const cert = join(dir, `${basename}.crt`);
  const key = join(dir, `${basename}.key`);
  const csr = join(dir, `${basename}.csr`);
  const config = join(dir, `${basename}.cnf`);
  const altNames = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = ${first}`,
      '[server_ext]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${altNames}`,
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'),
  );
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key);
  openssl('req', '-new', '-config', config, '-key', key, '-out', csr);
  openssl(
    'x509',
    '-req',
    '-sha256',
    '-days',
    days,
    '-in',
    csr,
    '-CA',
    ca.caCert,
    '-CAkey',
    ca.caKey,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-extfile',
    config,
    '-extensions',
    'server_ext',
    '-out',
    cert,
  );
  return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
