import type { Cluster } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import type { TransferRun } from './mailbox.js';
import { medianMBps, megabytes, type SideFigures, sideLines } from './report.js';
import { endpointsOf, type Transport } from './sides.js';
import { allSides, roundTurns, type Side, takeTurns } from './turns.js';

export const transferRuns = 5;

/**
 * MB/s of the same mailbox fetched whole on every side: one unmeasured run each, then
 * `transferRuns` rounds of every side in turn; the median of each side counts.
 */
export async function compareTransfers(
  cluster: Cluster,
  label: string,
  protocol: 'imap' | 'pop3',
  transport: Transport,
  transfer: (endpoint: Endpoint) => Promise<TransferRun>,
): Promise<void> {
  const endpoints = endpointsOf(cluster, protocol, transport);
  for (const side of allSides) await transfer(endpoints[side]);
  const { results, usage } = await takeTurns(
    cluster.processes,
    roundTurns(transferRuns, allSides),
    (side) => transfer(endpoints[side]),
  );
  const figures: Partial<Record<Side, SideFigures>> = {};
  for (const side of allSides) {
    const runs = results[side];
    figures[side] = { rate: medianMBps(runs), usage: usage[side], operations: megabytes(runs) };
  }
  for (const line of sideLines(label, 'MB', allSides, figures, [`median of ${transferRuns}`])) {
    console.log(line);
  }
}
