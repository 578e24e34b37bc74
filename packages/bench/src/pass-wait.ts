/**
 * What a POP3 client on a real network sees of a proxy's login: how long the answer to PASS
 * takes when PASS comes some milliseconds after USER's +OK (the client's round trip), one login
 * at a time. A proxy that connects to the backend only once it has the password (nginx, the
 * pipe) makes PASS wait for the connect, the greeting and the login; homing has the user's
 * backend open and greeted, and the client's address handed over, by then.
 */
import type { BenchUser, Cluster } from './cluster.js';
import type { Endpoint } from './endpoint.js';
import { Pop3Client } from './pop3-client.js';
import { median } from './report.js';
import { endpointsOf } from './sides.js';
import { bySide, roundTurns, type Side, sleep, slicesPerSide } from './turns.js';

/** How long after USER's +OK the client sends PASS: a client a few milliseconds away. */
export const passAfterMs = 3;

/** Each side's answers to PASS, `logins` in all, in slices taking turns. */
export async function passWaitRow(
  cluster: Cluster,
  users: readonly BenchUser[],
  logins: number,
  pauseMs: number,
): Promise<void> {
  const endpoints = endpointsOf(cluster, 'pop3', 'plain');
  const sides = cluster.loginSides;
  const waits = bySide((): number[] => []);
  let next = 0;
  for (const side of roundTurns(slicesPerSide, sides)) {
    if (pauseMs > 0) await sleep(pauseMs);
    for (let i = 0; i < Math.ceil(logins / slicesPerSide); i += 1) {
      const user = users[next % users.length] as BenchUser;
      next += 1;
      waits[side].push(await passWait(endpoints[side], user));
    }
  }
  for (const line of passWaitLines(sides, waits)) console.log(line);
}

/** One login: the time from PASS to its +OK, PASS sent `passAfterMs` after USER's +OK. */
async function passWait(endpoint: Endpoint, user: BenchUser): Promise<number> {
  const client = await Pop3Client.open(endpoint);
  try {
    await client.ok(`USER ${user.address}`, `USER ${user.address} on port ${endpoint.port}`);
    await sleep(passAfterMs);
    const sent = performance.now();
    await client.ok(`PASS ${user.password}`, `PASS of ${user.address} on port ${endpoint.port}`);
    const waited = performance.now() - sent;
    await client.quit();
    return waited;
  } finally {
    client.destroy();
  }
}

/** The row: each side's median wait and its ratio to direct, then the 10th and 90th percentiles. */
export function passWaitLines(
  sides: readonly Side[],
  waits: Readonly<Record<Side, readonly number[]>>,
): string[] {
  const present = sides.filter((side) => waits[side].length > 0);
  const sorted = bySide((side) => [...waits[side]].sort((a, b) => a - b));
  const at = (side: Side, share: number) =>
    (sorted[side][Math.floor(share * (sorted[side].length - 1))] as number).toFixed(2);
  const direct = waits.direct.length > 0 ? median(sorted.direct) : undefined;
  const medians = present.map((side) => {
    const own = median(sorted[side]);
    const ratio =
      side === 'direct' || direct === undefined ? '' : ` (${(own / direct).toFixed(2)})`;
    return `${side} ${own.toFixed(2)}${ratio}`;
  });
  const count = present.map((side) => waits[side].length);
  return [
    `${`POP3 PASS answered, ms`.padEnd(31)}${medians.join(' · ')}`,
    `  p10 ms: ${present.map((side) => `${side} ${at(side, 0.1)}`).join(' · ')}`,
    `  p90 ms: ${present.map((side) => `${side} ${at(side, 0.9)}`).join(' · ')}`,
    `  median time from PASS to its +OK, PASS sent ${passAfterMs} ms after USER's +OK (a client ` +
      `a few ms away), one login at a time, ${Math.min(...count)} logins each side in ` +
      `${slicesPerSide} slices taking turns`,
  ];
}
