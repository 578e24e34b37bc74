/**
 * IMAP, POP3 and SMTP through homing against the same straight to Dovecot, in one run on
 * loopback: homing's memory per idle spliced IMAP session; IMAP and POP3 logins per second;
 * IMAP FETCH and POP3 RETR throughput of a large mailbox; messages per second through the MX
 * listener against Dovecot's LMTP, with a check that every accepted message arrived once.
 * `npm run bench` at the repository root builds first. BENCH_SECONDS (default 5) is how long
 * each side is measured per login concurrency and for SMTP; BENCH_SESSIONS (default 1000) the
 * idle sessions wanted; BENCH_CPUS=split puts homing on a CPU of its own (see placement.ts);
 * HOMING_NODE_ARGS are node arguments for the homing process (e.g. `--cpu-prof`).
 */
import { benchUser, Cleanup, startCluster } from './cluster.js';
import type { HomingProcess } from './homing-process.js';
import { fetchThroughput, idleSessions, imapLogins, imapWarmUp } from './imap.js';
import type { ImapClient } from './imap-client.js';
import { pinBench, pinHoming, placementFrom, placementLine } from './placement.js';
import { pop3Logins, retrThroughput } from './pop3.js';
import { dovecotVersion, systemLine } from './report.js';
import { smtpMessages } from './smtp.js';

const seconds = positiveNumber('BENCH_SECONDS', 5);
const sessionsWanted = Math.floor(positiveNumber('BENCH_SESSIONS', 1000));
const userCount = 200;
const imapConcurrency = [1, 8, 32];
const pop3Concurrency = [1, 8];
const warmUpConcurrency = 8;
const pauseMs = 250;

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
  const placement = placementFrom(process.env.BENCH_CPUS);
  pinBench(placement);
  console.log(systemLine());
  console.log(placementLine(placement));
  const cluster = await startCluster([...users, bigbox], cleanup);
  pinHoming(placement, cluster.homing.pid);
  cleanup.add(() => {
    for (const client of idle.splice(0)) client.destroy();
  });
  homingProcess = cluster.homing;
  console.log(
    `Dovecot ${dovecotVersion()} and OpenLDAP on loopback, ${userCount} users; ` +
      'homing logs at info (its default; "homing ready" is an info line)',
  );
  await imapWarmUp(cluster, users, warmUpConcurrency);
  console.log(
    `warm-up: each of the ${userCount} users logged in once direct and once through homing ` +
      '(directory cache warm)',
  );
  // First, while homing's heap has only seen the warm-up and little else can blur the difference.
  await idleSessions(cluster, users, sessionsWanted, idle);
  await imapLogins(cluster, users, imapConcurrency, seconds, pauseMs);
  const mailbox = await fetchThroughput(cluster, bigbox);
  await pop3Logins(cluster, users, pop3Concurrency, seconds, pauseMs, warmUpConcurrency);
  await retrThroughput(cluster, bigbox, mailbox);
  await smtpMessages(cluster, users, seconds, pauseMs);
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
