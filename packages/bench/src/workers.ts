/**
 * Does a pool of workers serve more than one process? IMAP and POP3 logins per second and IMAP
 * FETCH throughput through homing with `workers: 1`, then 2 (BENCH_WORKERS=1,2,4 for others),
 * against the same slapd and Dovecot, with the CPU time of homing's primary and of its workers
 * per login: a primary that hands every connection to a worker shows up there. Dovecot is the
 * main bench's, tuned as large sites run it. BENCH_SECONDS (default 5) is each login
 * measurement, after BENCH_WARM_UP_SECONDS (default 15) of logins unmeasured. Build first (npm
 * run build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { benchUser, Cleanup, startCluster } from './cluster.js';
import { fetchAll } from './fetch.js';
import { HomingProcess } from './homing-process.js';
import { imapLoginCycle } from './imap-client.js';
import { type LoginCycle, loginRate, loginSample, warmUp } from './logins.js';
import { fillMailbox, type MailboxContents } from './mailbox.js';
import { pop3LoginCycle } from './pop3-client.js';
import { dovecotVersion, median, rate, systemLine } from './report.js';
import { processTreeCpuMs } from './tree-cpu.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmUpSeconds = Number(process.env.BENCH_WARM_UP_SECONDS ?? 15);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const concurrency = 50;
const fetchRuns = 3;
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

try {
  console.log(systemLine());
  const cluster = await startCluster([...users, bigbox], 'shared', cleanup);
  // Only its config and ports are wanted: each worker count gets a homing of its own.
  await cluster.homing.stop();
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

  const direct = {
    imap: await logins(imap(ports.imap.direct)),
    pop3: await logins(pop3(ports.pop3.direct)),
    fetch: (await fetchRate(ports.imap.direct, mailbox, 1)).perSecond,
    fetch2: (await fetchRate(ports.imap.direct, mailbox, 2)).perSecond,
  };
  const rows: Row[] = [
    { label: 'IMAP logins/s', direct: direct.imap.perSecond, byWorkers: [], notes: [] },
    { label: 'POP3 logins/s', direct: direct.pop3.perSecond, byWorkers: [], notes: [] },
    { label: 'FETCH MB/s', direct: direct.fetch, byWorkers: [], notes: [] },
    { label: 'FETCH MB/s, 2 at once', direct: direct.fetch2, byWorkers: [], notes: [] },
  ];
  const config = readFileSync(join(dirname(cluster.homing.logFile), 'homing.yaml'), 'utf8');
  for (const count of workerCounts) {
    const path = join(dirname(cluster.homing.logFile), `homing-${count}.yaml`);
    writeFileSync(path, config.replace(/^workers: 1$/m, `workers: ${count}`));
    const homing = await HomingProcess.start(path, `${path}.log`, repoRoot, []);
    try {
      const imapRun = await logins(imap(ports.imap.homing), homing);
      const pop3Run = await logins(pop3(ports.pop3.homing), homing);
      const results = [
        imapRun,
        pop3Run,
        await fetchRate(ports.imap.homing, mailbox, 1, homing),
        await fetchRate(ports.imap.homing, mailbox, 2, homing),
      ];
      results.forEach((result, i) => {
        const row = rows[i] as Row;
        row.byWorkers.push(result.perSecond);
        if (result.cpu) row.notes.push(`w${count}: ${result.cpu}`);
      });
    } finally {
      await homing.stop();
    }
  }
  const header = ['', 'direct', ...workerCounts.map((n) => `workers ${n}`)];
  console.log(header.map((cell, i) => (i === 0 ? cell.padEnd(22) : cell.padStart(11))).join(''));
  for (const row of rows) {
    const cells = [row.direct, ...row.byWorkers].map((v) => rate(v).padStart(11));
    console.log(`${row.label.padEnd(22)}${cells.join('')}   ${row.notes.join('; ')}`);
  }
  console.log(
    'CPU per login: homing primary + its workers, ms; FETCH: 1:* BODY.PEEK[] of ' +
      `${(mailbox.bytes / 1e6).toFixed(1)} MB, median of ${fetchRuns}`,
  );
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup.run();
  process.exit();
}

/**
 * Warm-up (every user once, then `warmUpSeconds` of logins unmeasured: each process compiles
 * its code over its first thousands, and two workers see half the logins each), then
 * `concurrency` clients logging in for `seconds`.
 */
async function logins(cycle: LoginCycle, homing?: HomingProcess) {
  await warmUp(cycle, users, concurrency);
  await loginSample(cycle, users, concurrency, warmUpSeconds, { user: 0 });
  const before = homing && processTreeCpuMs(homing.pid);
  const sample = await loginSample(cycle, users, concurrency, seconds, { user: 0 });
  const result = loginRate([sample]);
  if (!homing || !before) return { perSecond: result.perSecond, cpu: undefined };
  const after = processTreeCpuMs(homing.pid);
  const count = sample.latencies.length;
  const per = (ms: number) => (ms / count).toFixed(3);
  const cpu = `${per(after.self - before.self)} + ${per(after.children - before.children)} ms`;
  return { perSecond: result.perSecond, cpu };
}

/** MB/s of `parallel` FETCHes of the whole mailbox at once, all bytes over the wall time. */
async function fetchRate(
  port: number,
  mailbox: MailboxContents,
  parallel: number,
  homing?: HomingProcess,
) {
  await fetchAll({ port }, bigbox, mailbox);
  const before = homing && processTreeCpuMs(homing.pid);
  let megabytes = 0;
  const rates: number[] = [];
  for (let run = 0; run < fetchRuns; run++) {
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: parallel }, () => fetchAll({ port }, bigbox, mailbox)),
    );
    const bytes = runs.reduce((sum, r) => sum + r.bytes, 0);
    megabytes += bytes / 1e6;
    rates.push(bytes / 1e6 / ((performance.now() - started) / 1000));
  }
  if (!homing || !before) return { perSecond: median(rates), cpu: undefined };
  const after = processTreeCpuMs(homing.pid);
  const per = (ms: number) => (ms / megabytes).toFixed(2);
  const cpu = `${per(after.self - before.self)} + ${per(after.children - before.children)} ms/MB`;
  return { perSecond: median(rates), cpu };
}
