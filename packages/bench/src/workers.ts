/**
 * Does a pool of workers serve more than one process? IMAP and POP3 logins per second and IMAP
 * FETCH throughput through homing with `workers: 1`, then 2 (BENCH_WORKERS=1,2,4 for others), each
 * pool once filling one worker first (homing's default) and once spreading every connection
 * (BENCH_BALANCE=fill or spread for one of them),
 * against the same slapd and Dovecot, with the CPU time of homing's primary and of its workers
 * per login: a primary that hands every connection to a worker shows up there. Dovecot is the
 * main bench's, tuned as large sites run it. Every pool runs from the start, each on ports of its
 * own, and the figures are taken in turns (direct and each pool once a round, the order turning
 * and reversing as in the main bench): measured one pool after the other, two workers read
 * 0.91x of one for IMAP logins, and 1.21x and 1.15x in turns in the next two runs.
 * BENCH_SECONDS (default 5) is each side's time at a login figure, in four slices, after
 * BENCH_WARM_UP_SECONDS (default 40) of logins unmeasured. Build first (npm run build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePorts } from '@homing/testkit';
import { benchUser, Cleanup, startCluster } from './cluster.js';
import { addCounts, noCounts, type SchedulerCounts, schedulerCounts } from './cpu.js';
import { fetchAll } from './fetch.js';
import { HomingProcess } from './homing-process.js';
import { imapLoginCycle } from './imap-client.js';
import { type LoginCycle, loginSample, warmUp } from './logins.js';
import { fillMailbox, type MailboxContents } from './mailbox.js';
import { priorityFrom, priorityLine } from './placement.js';
import { pop3LoginCycle } from './pop3-client.js';
import { dovecotVersion, median, rate, systemLine } from './report.js';
import { processTreeCpuMs } from './tree-cpu.js';
import { roundTurns, slicesPerSide } from './turns.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmUpSeconds = Number(process.env.BENCH_WARM_UP_SECONDS ?? 40);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
/** worker_balance.new_connections of each pool of more than one worker: a pool of each. */
const balances = (process.env.BENCH_BALANCE ?? 'fill,spread').split(',');
const concurrency = 50;
const fetchRounds = 5;
/** A FETCH turn repeats the FETCH (or the parallel FETCHes) until it has taken this long. */
const fetchTurnSeconds = 0.4;
const repoRoot = new URL('../../..', import.meta.url).pathname;

const users = Array.from({ length: 200 }, (_, i) =>
  benchUser(`user${String(i + 1).padStart(4, '0')}`),
);
const bigbox = benchUser('bigbox');
const cleanup = new Cleanup();
process.once('SIGINT', () => void cleanup.run().finally(() => process.exit(130)));

interface Row {
  readonly label: string;
  readonly direct: number;
  readonly byWorkers: number[];
  readonly notes: string[];
}

/** Straight to Dovecot, or one homing pool, on its own ports. */
interface Side {
  readonly name: string;
  readonly imap: number;
  readonly pop3: number;
  readonly homing?: HomingProcess;
}

/**
 * What a side did over its turns: operations, their time, homing's CPU over them (primary and
 * workers), and all its processes' CPU by mode and context switches.
 */
interface Tally {
  count: number;
  seconds: number;
  rates: number[];
  self: number;
  children: number;
  counts: SchedulerCounts;
}

try {
  console.log(systemLine());
  const priority = priorityFrom(process.env.BENCH_PRIORITY);
  console.log(priorityLine(priority));
  const cluster = await startCluster([...users, bigbox], 'shared', cleanup, priority);
  // Only its config and ports are wanted: each worker count gets a homing of its own.
  await cluster.homing.stop();
  await cluster.homingAlone.stop();
  console.log(
    `Dovecot ${dovecotVersion()} (tuned: login and session processes reused), ` +
      `${users.length} users, ${concurrency} clients at a time, ${seconds} s per login figure`,
  );
  const mailbox = fillMailbox(cluster.dovecot, bigbox, 200, 256 * 1024);
  const { ports } = cluster;
  const imap =
    (port: number): LoginCycle =>
    (user) =>
      imapLoginCycle({ port }, user);
  const pop3 =
    (port: number): LoginCycle =>
    (user) =>
      pop3LoginCycle({ port }, user);

  const config = readFileSync(join(dirname(cluster.homing.logFile), 'homing.yaml'), 'utf8');
  const sides: Side[] = [{ name: 'direct', imap: ports.imap.direct, pop3: ports.pop3.direct }];
  const pools = workerCounts.flatMap((count) =>
    count > 1 ? balances.map((balance) => ({ count, balance })) : [{ count, balance: '' }],
  );
  for (const { count, balance } of pools) {
    // Ports of its own for every listener, so that the pools can all run at once.
    const free = await freePorts(5);
    let own = config
      .replace(/^workers: .*$/m, `workers: ${count}`)
      .replace(
        /^worker_balance: .*$/m,
        `worker_balance: { new_connections: ${balance || 'fill'} }`,
      );
    const moved = [
      ports.imap.homing,
      ports.pop3.homing,
      cluster.smtp.homing,
      ports.imaps.homing,
      ports.pop3s.homing,
    ];
    moved.forEach((port, i) => {
      own = own.replace(`127.0.0.1:${port}`, `127.0.0.1:${free[i]}`);
    });
    const name = balance ? `${count} ${balance}` : `${count}`;
    const path = join(dirname(cluster.homing.logFile), `homing-${name.replace(' ', '-')}.yaml`);
    writeFileSync(path, own);
    const homing = await HomingProcess.start(path, `${path}.log`, repoRoot, []);
    cleanup.add(() => homing.stop());
    sides.push({
      name: `workers ${name}`,
      imap: free[0] as number,
      pop3: free[1] as number,
      homing,
    });
  }
  const imapRow = await logins(sides, (side) => imap(side.imap));
  const pop3Row = await logins(sides, (side) => pop3(side.pop3));
  const fetch1 = await fetchRates(sides, mailbox, 1);
  const fetch2 = await fetchRates(sides, mailbox, 2);
  const rows: Row[] = [
    row('IMAP logins/s', imapRow, loginCpu),
    row('POP3 logins/s', pop3Row, loginCpu),
    row('FETCH MB/s', fetch1, fetchCpu),
    row('FETCH MB/s, 2 at once', fetch2, fetchCpu),
  ];
  const header = ['', 'direct', ...sides.slice(1).map((side) => side.name)];
  console.log(header.map((cell, i) => (i === 0 ? cell.padEnd(22) : cell.padStart(18))).join(''));
  for (const row of rows) {
    const cells = [row.direct, ...row.byWorkers].map((v) => rate(v).padStart(18));
    console.log(`${row.label.padEnd(22)}${cells.join('')}   ${row.notes.join('; ')}`);
  }
  console.log(
    'CPU per login: homing primary + its workers, ms; FETCH: 1:* BODY.PEEK[] of ' +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB, median of ${fetchRounds} turns of at least ${fetchTurnSeconds} s; ` +
      `every side in turn, ${slicesPerSide} slices of ${seconds / slicesPerSide} s per login figure`,
  );
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup.run();
  process.exit();
}

/**
 * Warm-up of every side (every user once, then `warmUpSeconds` of logins unmeasured: each
 * process compiles its code over its first thousands, and two workers see half the logins
 * each), then `concurrency` clients logging in, `seconds` per side in slices taken in turns.
 */
async function logins(sides: readonly Side[], cycleOf: (side: Side) => LoginCycle) {
  for (const side of sides) {
    await warmUp(cycleOf(side), users, concurrency);
    await loginSample(cycleOf(side), users, concurrency, warmUpSeconds, { user: 0 });
  }
  const tallies = new Map<Side, Tally>();
  for (const side of roundTurns(slicesPerSide, sides)) {
    const before = side.homing && processTreeCpuMs(side.homing.pid);
    const countsBefore = poolCounts(side);
    const sample = await loginSample(cycleOf(side), users, concurrency, seconds / slicesPerSide, {
      user: 0,
    });
    const after = side.homing && processTreeCpuMs(side.homing.pid);
    const counts = addCounts(poolCounts(side), countsBefore, -1);
    const count = sample.latencies.length;
    add(tallies, side, count, sample.elapsedMs / 1000, before, after, counts);
  }
  return tallies;
}

/**
 * MB/s of `parallel` FETCHes of the whole mailbox at once, all bytes over the wall time: one
 * unmeasured round, then `fetchRounds` rounds in turns, each turn again and again until
 * `fetchTurnSeconds`; the median turn counts.
 */
async function fetchRates(sides: readonly Side[], mailbox: MailboxContents, parallel: number) {
  const fetchAt = async (side: Side) => {
    const runs = await Promise.all(
      Array.from({ length: parallel }, () => fetchAll({ port: side.imap }, bigbox, mailbox)),
    );
    return runs.reduce((sum, r) => sum + r.bytes, 0) / 1e6;
  };
  for (const side of sides) await fetchAt(side);
  const tallies = new Map<Side, Tally>();
  for (const side of roundTurns(fetchRounds, sides)) {
    const before = side.homing && processTreeCpuMs(side.homing.pid);
    const countsBefore = poolCounts(side);
    const started = performance.now();
    let megabytes = 0;
    do megabytes += await fetchAt(side);
    while (performance.now() - started < fetchTurnSeconds * 1000);
    const wall = (performance.now() - started) / 1000;
    const after = side.homing && processTreeCpuMs(side.homing.pid);
    const counts = addCounts(poolCounts(side), countsBefore, -1);
    add(tallies, side, megabytes, wall, before, after, counts);
  }
  return tallies;
}

type Cpu = { self: number; children: number } | undefined;

/** CPU by mode and context switches so far of a pool's primary and workers together. */
function poolCounts(side: Side): SchedulerCounts {
  return (side.homing?.pids() ?? [])
    .map(schedulerCounts)
    .reduce((a, b) => addCounts(a, b), noCounts);
}

function add(
  tallies: Map<Side, Tally>,
  side: Side,
  count: number,
  seconds: number,
  before: Cpu,
  after: Cpu,
  counts: SchedulerCounts,
): void {
  const tally = tallies.get(side) ?? {
    count: 0,
    seconds: 0,
    rates: [],
    self: 0,
    children: 0,
    counts: noCounts,
  };
  tally.counts = addCounts(tally.counts, counts);
  tally.count += count;
  tally.seconds += seconds;
  tally.rates.push(count / seconds);
  if (before && after) {
    tally.self += after.self - before.self;
    tally.children += after.children - before.children;
  }
  tallies.set(side, tally);
}

/**
 * Logins per second: all logins over all the side's time. Beside the CPU per login, its user and
 * system parts and how often per login a thread of the pool went to sleep (and so was woken
 * again) or was preempted: where a second worker's extra CPU goes (see the README).
 */
function loginCpu(tally: Tally): { perSecond: number; cpu: string } {
  const per = (n: number, digits = 3) => (n / tally.count).toFixed(digits);
  const { userMs, systemMs, sleeps, preemptions } = tally.counts;
  return {
    perSecond: tally.count / tally.seconds,
    cpu:
      `${per(tally.self)} + ${per(tally.children)} ms (user ${per(userMs)}, system ` +
      `${per(systemMs)}; ${per(sleeps, 2)} sleeps, ${per(preemptions, 2)} preemptions)`,
  };
}

/** MB/s: the median turn. */
function fetchCpu(tally: Tally): { perSecond: number; cpu: string } {
  const per = (ms: number) => (ms / tally.count).toFixed(2);
  return {
    perSecond: median(tally.rates),
    cpu: `${per(tally.self)} + ${per(tally.children)} ms/MB`,
  };
}

function row(
  label: string,
  tallies: Map<Side, Tally>,
  figures: (tally: Tally) => { perSecond: number; cpu: string },
): Row {
  const of = (side: Side) => figures(tallies.get(side) as Tally);
  const [direct, ...pools] = [...tallies.keys()];
  return {
    label,
    direct: direct ? of(direct).perSecond : Number.NaN,
    byWorkers: pools.map((side) => of(side).perSecond),
    notes: pools.map((side) => `w${side.name.replace('workers ', '')}: ${of(side).cpu}`),
  };
}
