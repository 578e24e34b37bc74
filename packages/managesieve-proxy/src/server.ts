import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { BackendExtensions, type ProbedCapabilities } from './capabilities.js';
import { SieveSession } from './session.js';

export type ManageSieveListenerOptions = ProtocolListenerOptions & {
  /** The backends' capability lists as their health probes read them (none without probes). */
  readonly probedCapabilities?: (() => Iterable<ProbedCapabilities>) | undefined;
};

/** Starts one ManageSieve listener; every connection becomes a SieveSession. */
export function startManageSieveListener(options: ManageSieveListenerOptions): Promise<Server> {
  // RFC 5804 §1.3: BYE ends the connection; TRYLATER says it is worth coming back.
  const refusal =
    'BYE (TRYLATER) "Too many connections or failed logins from your address, try again later."';
  // What the backends said of their Sieve extensions, for every session's CAPABILITY.
  const extensions = new BackendExtensions(options.probedCapabilities);
  return startProtocolListener(options, 'managesieve', refusal, (connection) =>
    // The options as they are: their getters read the directory and guard of the moment.
    new SieveSession(connection, options, extensions).start(),
  );
}
