import { readFileSync } from 'node:fs';
import type { Limit } from './dovecot-limits.js';
import { openFilesLimit, raiseOpenFiles } from './homing-process.js';

/** Descriptors each bench process keeps besides the sessions (pipes, logs, Dovecot's tools). */
const spareFiles = 100;
/** Source ports of a range kept for probes, LDAP and ports still in TIME_WAIT. */
const portMargin = 1000;
/** homing's `limits.descriptor_reserve` default. */
const homingReserve = 256;
/** homing's source addresses: 127.0.0.2 and on (the session holders take 127.0.0.11 and on). */
const firstSource = 2;
const maxSources = 8;

/** Ports in net.ipv4.ip_local_port_range, less a margin: connections to one address and port. */
export function portsPerAddress(): number {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  return (high as number) - (low as number) + 1 - portMargin;
}

/**
 * Before homing starts: the sessions to expect from the wanted number, Dovecot's limit and what
 * homing's workers will hold with the descriptor limit they inherit from the bench; and, when
 * that is more than one range of source ports, the source addresses homing's backend
 * connections need (each a range of its own, see deploy/README.md).
 */
export function expectSessions(
  wanted: number,
  workers: number,
  dovecot: Limit,
  loggingIn: number,
): { sessions: number; sources: string[] } {
  const perWorker = Math.floor((openFilesLimit('self') - homingReserve) / 2);
  const sessions = Math.min(wanted, dovecot.sessions, workers * perWorker - loggingIn);
  const ranges = Math.ceil(sessions / portsPerAddress());
  const count = ranges > 1 ? Math.min(ranges, maxSources) : 0;
  const sources = Array.from({ length: count }, (_, i) => `127.0.0.${firstSource + i}`);
  return { sessions, sources };
}

export interface IdlePlan {
  readonly sessions: number;
  /** Each limit on the sessions, the one that binds first. */
  readonly limits: readonly Limit[];
  /** Sessions each bench process holds (its descriptors, and Dovecot's limit per address). */
  readonly perHolder: number;
  /** The holders connect from addresses of their own (each a range of source ports). */
  readonly ownAddresses: boolean;
}

/**
 * How many idle sessions fit: homing holds what its processes' own session capacities add up
 * to, less the batch logging in, and Dovecot its `total`. Each session takes one descriptor in a
 * bench process (its open-files limit raised first where it is short and root may); with
 * `ownAddresses` as many processes as needed hold them, each from an address of its own,
 * otherwise one, from 127.0.0.1, where Dovecot's limit per address counts for all.
 */
export function planSessions(
  wanted: number,
  homingCapacities: readonly number[],
  dovecot: { readonly total: Limit; readonly perAddress: Limit },
  loggingIn: number,
  ownAddresses: boolean,
): IdlePlan {
  const files = raiseOpenFiles('self', Math.min(wanted, 1 << 30) + spareFiles) - spareFiles;
  const homing = homingCapacities.reduce((a, b) => a + b, 0);
  const each = homingCapacities.join(' + ');
  const limits: Limit[] = [
    { sessions: wanted, why: 'BENCH_SESSIONS' },
    {
      sessions: homing - loggingIn,
      why:
        `homing's session capacity is ${homingCapacities.length > 1 ? `${each} = ` : ''}` +
        `${homing} (per process: open-files limit less descriptor_reserve, 2 a session), ` +
        `${loggingIn} of it for the batch logging in`,
    },
    dovecot.total,
  ];
  const benchFiles = {
    sessions: files,
    why: `a bench process may open ${files + spareFiles} files (ulimit -n), ${spareFiles} kept`,
  };
  if (!ownAddresses) limits.push(benchFiles, dovecot.perAddress);
  const sorted = limits
    .filter((limit) => Number.isFinite(limit.sessions))
    .sort((a, b) => a.sessions - b.sessions);
  const perHolder = ownAddresses
    ? Math.min(files, dovecot.perAddress.sessions, portsPerAddress())
    : files;
  return {
    sessions: Math.max(0, sorted[0]?.sessions ?? 0),
    limits: sorted,
    perHolder,
    ownAddresses,
  };
}
