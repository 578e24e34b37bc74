import type { Cluster } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import type { TransferRun } from './mailbox.js';
import { medianMBps, megabytes, type SideFigures, sideLines } from './report.js';
import { endpointsOf, type Transport } from './sides.js';
import { roundTurns, type Side, takeTurns } from './turns.js';

/** Rounds of every side in turn; each side's median turn counts. */
export const transferRuns = 9;

/**
 * A turn repeats the transfer until its timed parts add up to this long. One FETCH of the
 * 52 MB mailbox takes 40-130 ms on the development machine, and single runs of one side
 * spread over 2x (600 to 1300 MB/s in 21 runs): the median of five such runs put homing at
 * 0.86x to 1.13x direct from one bench run to the next, with the same code.
 */
export const turnSeconds = 0.4;

/** One turn: the transfer again and again until `turnSeconds`, all its bytes over all its time. */
async function transferTurn(
  transfer: (endpoint: Endpoint) => Promise<TransferRun>,
  endpoint: Endpoint,
): Promise<TransferRun> {
  let bytes = 0;
  let seconds = 0;
  do {
    const run = await transfer(endpoint);
    bytes += run.bytes;
    seconds += run.seconds;
  } while (seconds < turnSeconds);
  return { bytes, seconds };
}

/**
 * MB/s of the same mailbox fetched whole on every side: one unmeasured run each, then
 * `transferRuns` rounds of every side in turn, each turn at least `turnSeconds` of
 * transfers; the median turn of each side counts.
 */
export async function compareTransfers(
  cluster: Cluster,
  label: string,
  protocol: 'imap' | 'pop3',
  transport: Transport,
  transfer: (endpoint: Endpoint) => Promise<TransferRun>,
): Promise<void> {
  const endpoints = endpointsOf(cluster, protocol, transport);
  // HAProxy would pass TLS through to Dovecot untouched: not a proxy's TLS row.
  const sides = transport === 'plain' ? cluster.transferSides : cluster.sides;
  for (const side of sides) await transfer(endpoints[side]);
  const { results, usage } = await takeTurns(
    cluster.processes,
    roundTurns(transferRuns, sides),
    (side) => transferTurn(transfer, endpoints[side]),
  );
  const figures: Partial<Record<Side, SideFigures>> = {};
  for (const side of sides) {
    const runs = results[side];
    figures[side] = { rate: medianMBps(runs), usage: usage[side], operations: megabytes(runs) };
  }
  for (const line of sideLines(label, 'MB', sides, figures, [
    `median of ${transferRuns} turns of at least ${turnSeconds} s`,
  ])) {
    console.log(line);
  }
}
