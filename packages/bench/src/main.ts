/**
 * IMAP through homing against IMAP straight to Dovecot, in one run on loopback: homing's memory
 * per idle spliced session, logins per second, FETCH throughput of a large mailbox.
 * `npm run bench` at the repository root builds first. BENCH_SECONDS (default 5) is how long
 * each side is measured per login concurrency; BENCH_SESSIONS (default 1000) the idle sessions
 * wanted; HOMING_NODE_ARGS are node arguments for the homing process (e.g. `--cpu-prof`).
 */
import { benchUser, Cleanup, type Cluster, startCluster } from './cluster.js';
import { addUsage, measured, noUsage, type Usage } from './cpu.js';
import { dovecotSessionCapacity } from './dovecot-limits.js';
import { type FetchRun, fetchAll, fillMailbox } from './fetch.js';
import type { HomingProcess } from './homing-process.js';
import { idleSessionMemory, planSessions, type Settled } from './idle.js';
import type { ImapClient } from './imap-client.js';
import { type LoginSample, loginRate, loginSample, warmUp } from './logins.js';
import { dovecotVersion, mebibytes, median, percent, row, systemLine } from './report.js';

const seconds = positiveNumber('BENCH_SECONDS', 5);
const sessionsWanted = Math.floor(positiveNumber('BENCH_SESSIONS', 1000));
const userCount = 200;
const concurrencyLevels = [1, 8, 32];
const warmUpConcurrency = 8;
const pauseMs = 250;
const fetchMessages = 200;
const fetchMessageBytes = 256 * 1024;
const fetchRuns = 5;
const idleBatch = 50;

type Side = 'direct' | 'homing';
type Ports = Record<Side, number>;
/**
 * Each side's time at a login level is split in four, in turns A B B A B A A B, so that a drift
 * or a burst of other load on the machine hits both sides alike.
 */
const loginTurns: readonly Side[] = [
  'direct',
  'homing',
  'homing',
  'direct',
  'homing',
  'direct',
  'direct',
  'homing',
];
const loginSlices = loginTurns.length / 2;
/** FETCH runs alternate which side goes first. */
const directFirst: readonly Side[] = ['direct', 'homing'];
const homingFirst: readonly Side[] = ['homing', 'direct'];

const users = Array.from({ length: userCount }, (_, i) =>
  benchUser(`user${String(i + 1).padStart(4, '0')}`),
);
const bigbox = benchUser('bigbox');

const cleanup = new Cleanup();
const idle: ImapClient[] = [];
let homingProcess: HomingProcess | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping homing, Dovecot and slapd`);
    void cleanup.run().finally(() => process.exit(130));
  });
}

try {
  console.log(systemLine());
  const cluster = await startCluster([...users, bigbox], cleanup);
  cleanup.add(closeIdle);
  homingProcess = cluster.homing;
  console.log(
    `Dovecot ${dovecotVersion()} and OpenLDAP on loopback, ${userCount} users; ` +
      'homing logs at info (its default; "homing ready" is an info line)',
  );
  const ports: Ports = { direct: cluster.dovecot.imapPort, homing: cluster.homingPort };
  await warmUp(ports.direct, users, warmUpConcurrency);
  await warmUp(ports.homing, users, warmUpConcurrency);
  console.log(
    `warm-up: each of the ${userCount} users logged in once direct and once through homing ` +
      '(directory cache warm)',
  );
  // First, while homing's heap has only seen the warm-up and little else can blur the difference.
  await idleSessions(cluster);
  await logins(cluster.homing, ports);
  await fetchThroughput(cluster, ports);
  console.log(
    'CPUs busy: all CPUs of the machine, direct / homing runs; near 100% means the load ' +
      "generator, Dovecot and homing share the CPUs and homing's CPU comes out of Dovecot's",
  );
} catch (error) {
  if (!interrupted) {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    if (homingProcess?.exited) {
      console.error(`homing exited (${homingProcess.exited}); its last lines:`);
      console.error(homingProcess.tail());
    }
    process.exitCode = 1;
  }
} finally {
  if (!interrupted) {
    await cleanup.run();
    process.exit();
  }
}

function closeIdle(): void {
  for (const client of idle.splice(0)) client.destroy();
}

async function idleSessions({ dovecot, homing, homingPort }: Cluster): Promise<void> {
  const capacity = dovecotSessionCapacity(dovecot, idleBatch, userCount);
  const plan = planSessions(sessionsWanted, homing, capacity);
  for (const note of plan.notes) {
    console.log(`note: ${sessionsWanted} idle sessions wanted; ${note}`);
  }
  if (plan.sessions < 1) throw new Error('no room for idle sessions');
  const memory = await idleSessionMemory(homing, homingPort, users, plan.sessions, idleBatch, idle);
  console.log(
    `idle spliced session: ${memory.perSessionKiB.toFixed(1)} KiB RSS each ` +
      `(${memory.sessions} sessions, ${idleBatch} logging in at a time; homing VmRSS settled ` +
      `${mebibytes(memory.rssBeforeKiB)} -> ${mebibytes(memory.rssAfterKiB)} MiB, ` +
      `${mebibytes(memory.rssPeakKiB)} MiB a second after the last login)`,
  );
  const [before, after] = memory.settled;
  const settle = (s: Settled) => (s.dropped ? `${s.seconds} s` : `not within ${s.seconds} s`);
  console.log(
    `  settled: after a full GC in homing, until V8's memory reducer gave unused heap back ` +
      `(before ${settle(before)}, after ${settle(after)}); the least RSS counts`,
  );
  console.log('  no direct figure: Dovecot runs a process per IMAP session, not comparable');
  closeIdle();
  await sleep(3000); // Dovecot's session processes exit
}

async function logins(homing: HomingProcess, ports: Ports): Promise<void> {
  console.log(
    `one login = connect, greeting, LOGIN, SELECT INBOX, LOGOUT; users in turn; ${seconds} s ` +
      `each side per level, in ${loginSlices} slices taking turns`,
  );
  for (const concurrency of concurrencyLevels) {
    const samples: Record<Side, LoginSample[]> = { direct: [], homing: [] };
    const usage: Record<Side, Usage> = { direct: noUsage, homing: noUsage };
    const next = { user: 0 };
    for (const side of loginTurns) {
      await sleep(pauseMs);
      const sample = await measured(homing, () =>
        loginSample(ports[side], users, concurrency, seconds / loginSlices, next),
      );
      homing.assertRunning();
      samples[side].push(sample.result);
      usage[side] = addUsage(usage[side], sample.usage);
    }
    const direct = loginRate(samples.direct);
    const through = loginRate(samples.homing);
    const count = samples.homing.reduce((sum, s) => sum + s.latencies.length, 0);
    console.log(
      row(`logins/s  c=${concurrency}`, direct.perSecond, through.perSecond, [
        `p50 ${direct.p50Ms.toFixed(1)} / ${through.p50Ms.toFixed(1)} ms`,
        `homing CPU ${(usage.homing.homingCpuMs / count).toFixed(2)} ms/login`,
        `CPUs busy ${percent(usage.direct.machineBusy)} / ${percent(usage.homing.machineBusy)}`,
      ]),
    );
  }
}

async function fetchThroughput({ dovecot, homing }: Cluster, ports: Ports): Promise<void> {
  const mailbox = fillMailbox(dovecot, bigbox, fetchMessages, fetchMessageBytes);
  await fetchAll(ports.direct, bigbox, mailbox); // Dovecot indexes the new mail; pages cached
  const runs: Record<Side, FetchRun[]> = { direct: [], homing: [] };
  const usage: Record<Side, Usage> = { direct: noUsage, homing: noUsage };
  for (let i = 0; i < fetchRuns; i++) {
    for (const side of i % 2 === 0 ? directFirst : homingFirst) {
      const run = await measured(homing, () => fetchAll(ports[side], bigbox, mailbox));
      runs[side].push(run.result);
      usage[side] = addUsage(usage[side], run.usage);
    }
  }
  const mbps = (list: FetchRun[]) => median(list.map((r) => r.bytes / 1e6 / r.seconds));
  const relayedMB = runs.homing.reduce((sum, r) => sum + r.bytes, 0) / 1e6;
  console.log(
    row('FETCH MB/s', mbps(runs.direct), mbps(runs.homing), [
      `median of ${fetchRuns}`,
      `homing CPU ${(usage.homing.homingCpuMs / relayedMB).toFixed(2)} ms/MB`,
      `CPUs busy ${percent(usage.direct.machineBusy)} / ${percent(usage.homing.machineBusy)}`,
    ]),
  );
  console.log(
    `  FETCH 1:* BODY.PEEK[] of ${mailbox.messages} messages, ` +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB (MB = 10^6 bytes), after one unmeasured FETCH`,
  );
}

function positiveNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
