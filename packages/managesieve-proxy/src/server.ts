import type { Server } from 'node:net';
import { type ProtocolListenerOptions, startProtocolListener } from '@homing/proxy-core';
import { BackendExtensions, type ProbedCapabilities } from './capabilities.js';
import { sieveReplies } from './replies.js';
import { SieveSession } from './session.js';

export type ManageSieveListenerOptions = ProtocolListenerOptions & {
  /** The backends' capability lists as their health probes read them (none without probes). */
  readonly probedCapabilities?: (() => Iterable<ProbedCapabilities>) | undefined;
};

const refusals = { refusal: sieveReplies.blocked.line, busy: sieveReplies.busy.line };

/** Starts one ManageSieve listener; every connection becomes a SieveSession. */
export function startManageSieveListener(options: ManageSieveListenerOptions): Promise<Server> {
  // What the backends said of their Sieve extensions, for every session's CAPABILITY.
  const extensions = new BackendExtensions(options.probedCapabilities);
  return startProtocolListener(options, 'managesieve', refusals, (connection) =>
    // The options as they are: their getters read the directory and guard of the moment.
    new SieveSession(connection, options, extensions).start(),
  );
}
