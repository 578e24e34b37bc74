import type { Cluster, Listener } from './cluster.js';
import { type Endpoint, TlsClient } from './endpoint.js';
import { bySide, type Side } from './turns.js';

/** How a row's clients connect: plaintext, or implicit TLS with full or resumed handshakes. */
export type Transport = 'plain' | 'tls' | 'tls-resumed';

/** What the rows say of a transport. */
export const transportNames: Record<Transport, string> = {
  plain: 'plaintext',
  tls: 'TLS, full handshakes',
  'tls-resumed': 'TLS, resumed sessions',
};

/** Each side's endpoint for a protocol, each with its own TLS client state where there is TLS. */
export function endpointsOf(
  cluster: Cluster,
  protocol: 'imap' | 'pop3',
  transport: Transport,
): Record<Side, Endpoint> {
  const listener: Listener = transport === 'plain' ? protocol : `${protocol}s`;
  const endpoint = (side: Side): Endpoint => ({
    port: cluster.ports[listener][side],
    tls:
      transport === 'plain' ? undefined : new TlsClient(cluster.caPem, transport === 'tls-resumed'),
  });
  return bySide(endpoint);
}

/** For the resumed rows: which share of each side's handshakes were resumed (since last asked). */
export function resumedNote(endpoints: Record<Side, Endpoint>, sides: readonly Side[]): string {
  const shares = sides.map((side) => {
    const tls = endpoints[side].tls;
    return `${side} ${tls ? Math.round(tls.takeResumedShare() * 100) : 0}%`;
  });
  return `handshakes resumed: ${shares.join(' · ')}`;
}
