import { readFileSync } from 'node:fs';
import type { Backend } from '@homing/directory';
import { ImapFlow } from 'imapflow';

/** The time limits of a mover's IMAP connections. */
export interface ImapTimeouts {
  /** TCP, TLS and the greeting. */
  readonly connectMs: number;
  /** Silence on a connection in the middle of a command (a dead or hung server). */
  readonly socketMs: number;
}

/**
 * Logs into a backend as `login` with the backend's master credentials (SASL PLAIN with the
 * user as authorization identity, RFC 4616, as homing's own login replay does): the mover never
 * knows the user's password. Without master credentials in the catalog there is no move.
 */
export async function loginAsUser(
  backend: Backend,
  login: string,
  timeouts: ImapTimeouts,
): Promise<ImapFlow> {
  const endpoint = backend.endpoints.imap;
  if (!endpoint) throw new Error(`backend ${backend.name} has no IMAP service`);
  const master = backend.master;
  if (!master)
    throw new Error(`backend ${backend.name} has no master credentials (backends.*.master)`);
  const client = new ImapFlow({
    host: backend.host,
    port: endpoint.port,
    secure: endpoint.tls === 'implicit',
    doSTARTTLS: endpoint.tls === 'starttls',
    tls: {
      rejectUnauthorized: backend.tls.verify,
      ...(backend.tls.caFile ? { ca: readFileSync(backend.tls.caFile) } : {}),
      ...(backend.tls.servername ? { servername: backend.tls.servername } : {}),
    },
    auth: { user: master.user, pass: master.password, authzid: login, loginMethod: 'AUTH=PLAIN' },
    logger: false,
    disableAutoIdle: true,
    // Compression costs CPU on both ends for loopback and LAN links, where moves run.
    disableCompression: true,
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.connectMs,
    socketTimeout: timeouts.socketMs,
  });
  // A socket error ends the pending command with it; the event alone must not crash the mover.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.close();
    throw new Error(`${backend.name}: cannot log in as ${login}: ${describe(error)}`);
  }
  return client;
}

export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const extra = error as Error & { responseText?: string; code?: string };
  return extra.responseText ?? (extra.code ? `${error.message} (${extra.code})` : error.message);
}
