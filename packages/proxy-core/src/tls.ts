import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContext,
  TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import type { BackendTls } from '@homing/directory';
import type { Cancellation } from './deadline.js';

export interface CertificateSpec {
  /** PEM certificate chain file. */
  readonly cert: string;
  /** PEM private key file. */
  readonly key: string;
  /** Names this certificate serves (SNI); default: the names in the certificate itself. */
  readonly names?: readonly string[] | undefined;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * Server certificates, chosen by SNI, the first one being the default. `reload` swaps them in
 * place so new handshakes use the new files while live sessions are untouched.
 */
export class ServerTls {
  #default: SecureContext;
  #byName = new Map<string, SecureContext>();

  #minVersion: TlsVersion;
  /** Client handshakes that failed or were cut short, for the metrics. */
  handshakeFailures = 0;

  /** Session-ticket key shared by the nodes of a pool; each process makes its own without. */
  #ticketKeys: Buffer | undefined;

  constructor(
    certificates: readonly CertificateSpec[],
    minVersion: TlsVersion = 'TLSv1.2',
    ticketKeys?: Buffer,
  ) {
    if (certificates.length === 0) throw new Error('no certificate configured');
    this.#default = this.#load(certificates, minVersion, ticketKeys);
    this.#minVersion = minVersion;
    this.#ticketKeys = ticketKeys;
  }

  get minVersion(): TlsVersion {
    return this.#minVersion;
  }

  /** New certificate files (and oldest TLS version) for the handshakes from now on. */
  reload(
    certificates: readonly CertificateSpec[],
    minVersion: TlsVersion = this.#minVersion,
    ticketKeys: Buffer | undefined = this.#ticketKeys,
  ): void {
    this.#default = this.#load(certificates, minVersion, ticketKeys);
    this.#minVersion = minVersion;
    this.#ticketKeys = ticketKeys;
  }

  /**
   * Takes the certificates of `other`, loaded beforehand: a reload loads and checks every
   * file first and switches only when all of them are good.
   */
  adopt(other: ServerTls): void {
    this.#minVersion = other.#minVersion;
    this.#default = other.#default;
    this.#byName = other.#byName;
    this.#ticketKeys = other.#ticketKeys;
  }

  /** Wraps an accepted socket (implicit TLS, or after STARTTLS) and waits for the handshake. */
  accept(socket: Socket | TLSSocket, signal?: Cancellation): Promise<TLSSocket> {
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: this.#default,
      SNICallback: (name, done) => done(null, this.#context(name)),
    });
    return handshake(secure, 'secure', signal).catch((error: unknown) => {
      this.handshakeFailures += 1;
      throw error;
    });
  }

  #context(name: string): SecureContext {
    const lower = name.toLowerCase();
    const exact = this.#byName.get(lower);
    if (exact) return exact;
    const wildcard = this.#byName.get(`*.${lower.slice(lower.indexOf('.') + 1)}`);
    return wildcard ?? this.#default;
  }

  #load(
    certificates: readonly CertificateSpec[],
    minVersion: TlsVersion,
    ticketKeys: Buffer | undefined,
  ): SecureContext {
    const byName = new Map<string, SecureContext>();
    let first: SecureContext | undefined;
    for (const spec of certificates) {
      let cert: Buffer;
      let context: SecureContext;
      try {
        cert = readFileSync(spec.cert);
        context = createSecureContext({
          cert,
          key: readFileSync(spec.key),
          minVersion,
          ...(ticketKeys ? { ticketKeys } : {}),
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`certificate ${spec.cert} with key ${spec.key}: ${reason}`);
      }
      first ??= context;
      for (const name of spec.names ?? certificateNames(cert)) {
        if (!byName.has(name.toLowerCase())) byName.set(name.toLowerCase(), context);
      }
    }
    this.#byName = byName;
    return first as SecureContext;
  }
}

/** DNS names of a certificate's subjectAltName, or its CN when it has none. */
export function certificateNames(pem: Buffer): string[] {
  const x509 = new X509Certificate(pem);
  const alt = x509.subjectAltName
    ?.split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
  if (alt && alt.length > 0) return alt;
  const cn = /CN=([^\n,]+)/.exec(x509.subject)?.[1];
  return cn ? [cn] : [];
}

const caCache = new Map<string, Buffer>();

/** Options for a TLS connection to a backend: verification on unless the config says otherwise. */
export function backendTlsOptions(host: string, tls: BackendTls): ConnectionOptions {
  // Asked at every login: made once per backend's settings (a reload brings new ones).
  const made = tlsOptionsCache.get(tls);
  if (made?.host === host) return made.options;
  const options = makeBackendTlsOptions(host, tls);
  tlsOptionsCache.set(tls, { host, options });
  return options;
}

const tlsOptionsCache = new WeakMap<
  BackendTls,
  { readonly host: string; readonly options: ConnectionOptions }
>();

function makeBackendTlsOptions(host: string, tls: BackendTls): ConnectionOptions {
  let ca: Buffer | undefined;
  if (tls.caFile) {
    ca = caCache.get(tls.caFile) ?? readFileSync(tls.caFile);
    caCache.set(tls.caFile, ca);
  }
  return {
    rejectUnauthorized: tls.verify,
    servername: tls.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
    minVersion: 'TLSv1.2',
    ...(ca ? { ca } : {}),
    // Verify an IP-literal host against the certificate's IP SANs.
    ...(tls.servername === undefined && /^[\d.]+$|:/.test(host) ? { host } : {}),
  };
}

/** Upgrades a connection to a backend after its STARTTLS (or at once, for implicit TLS). */
export function connectTls(
  socket: Socket,
  options: ConnectionOptions,
  signal?: Cancellation,
): Promise<TLSSocket> {
  const secure = tlsConnect({ ...options, socket });
  return handshake(secure, 'secureConnect', signal);
}

function handshake(
  socket: TLSSocket,
  event: 'secure' | 'secureConnect',
  signal?: Cancellation,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const fail = (error: unknown) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(signal?.reason ?? new Error('TLS handshake aborted'));
    const onClose = () => fail(new Error('connection closed during TLS handshake'));
    const cleanup = () => {
      socket.off('error', fail);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once(event, () => {
      cleanup();
      resolve(socket);
    });
    socket.once('error', fail);
    socket.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
