import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** RLIMIT_NOFILE of this process; Infinity where the kernel says unlimited. */
export interface DescriptorLimit {
  readonly soft: number;
  readonly hard: number;
}

/** Each spliced session holds two descriptors: the client's and its backend connection. */
const DESCRIPTORS_PER_SESSION = 2;

const parseLimit = (text: string): number =>
  text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);

/** Reads the limit from /proc (Linux); undefined elsewhere. */
export function readDescriptorLimit(): DescriptorLimit | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!match) return undefined;
  return { soft: parseLimit(match[1] as string), hard: parseLimit(match[2] as string) };
}

/**
 * The soft limit raised to the hard one, as nginx's worker_rlimit_nofile does. Node raises it
 * itself at start on most platforms; where it did not, `prlimit` does it for this process
 * (Node has no setrlimit). The kernel caps an unlimited hard limit at fs.nr_open.
 */
export function raiseDescriptorLimit(): DescriptorLimit | undefined {
  const limit = readDescriptorLimit();
  if (!limit || limit.soft >= limit.hard) return limit;
  let target = limit.hard;
  if (!Number.isFinite(target)) {
    try {
      target = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
    } catch {
      return limit;
    }
  }
  try {
    // `soft:` sets the soft limit alone; the hard one stays as it is.
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:`], {
      stdio: 'ignore',
      timeout: 5000,
    });
  } catch {
    return limit;
  }
  return readDescriptorLimit() ?? limit;
}

export interface Capacity {
  /** Sessions the descriptors allow; Infinity when the limit is not known. */
  readonly derived: number;
  /** What admission control holds to: `derived`, or `max_sessions` when lower. */
  readonly sessions: number;
}

/** Sessions a process can hold with `limit`, after `reserve`, capped by `maxSessions` (0: none). */
export function sessionCapacity(
  limit: DescriptorLimit | undefined,
  reserve: number,
  maxSessions: number,
): Capacity {
  const derived =
    limit && Number.isFinite(limit.soft)
      ? Math.max(1, Math.floor((limit.soft - reserve) / DESCRIPTORS_PER_SESSION))
      : Number.POSITIVE_INFINITY;
  const sessions = maxSessions > 0 ? Math.min(derived, maxSessions) : derived;
  return { derived, sessions };
}
