/**
 * IMAP and POP3 straight to Dovecot (tuned as large sites run it) against the same through nginx's
 * mail proxy, through homing (with as many worker processes as nginx; beside it in the login rows,
 * homing with one process), through a bare Node pipe and, in the plaintext FETCH and RETR rows,
 * through HAProxy splicing in TCP mode, in one run on loopback: logins per second (plaintext, and
 * implicit TLS with full and with resumed handshakes), FETCH and RETR throughput of a large
 * mailbox, each proxy's CPU per operation (homing's: its primary's and its workers'); homing's
 * memory per idle spliced IMAP session; SMTP messages per second through homing's MX against
 * Dovecot's LMTP, with a check that every accepted message arrived once. `npm run bench` at the
 * repository root builds first. BENCH_SECONDS (default 5) is how long each side is measured per
 * login concurrency and for SMTP; BENCH_WARM_UP_SECONDS (default 40) how long each side serves
 * logins before IMAP's and POP3's rows (half that with TLS before the TLS rows); BENCH_SESSIONS
 * (default: as many as the limits allow) the idle sessions wanted, BENCH_LOGINS (default 20000)
 * the logins served before them and BENCH_IDLE_WORKERS (default auto) the workers of the homing
 * that holds them; BENCH_ONLY picks parts (parts.ts); BENCH_CPUS=split puts each proxy on a CPU of
 * its own, with one worker each, and BENCH_PRIORITY (default -5) is the nice value of every proxy
 * alike (placement.ts); HOMING_NODE_ARGS are node arguments for the homing processes
 * (`--cpu-prof`). The Node processes run on the Node.js that runs this script: scripts/run.sh
 * picks it (BENCH_NODE, default 24).
 */
import { kernelRelayAvailable } from '@homing/proxy-core';
import { benchUser, Cleanup, type Cluster, startCluster, type Workers } from './cluster.js';
import { haproxyPipeBytes, haproxyVersion } from './haproxy.js';
import type { SessionHolders } from './holders.js';
import type { HomingProcess } from './homing-process.js';
import { bigMailbox, fetchRows, type IdleOptions, idleSessions } from './imap.js';
import { loginRows, type WarmUpLoad, warmUpAll, warmUpUnderLoad } from './login-rows.js';
import type { MailboxContents } from './mailbox.js';
import { partsFrom } from './parts.js';
import { passWaitRow } from './pass-wait.js';
import { pinBench, placementFrom, placementLine, priorityFrom, priorityLine } from './placement.js';
import { retrRows } from './pop3.js';
import {
  dovecotVersion,
  homingProcesses,
  nginxVersion,
  processCount,
  systemLine,
} from './report.js';
import type { Transport } from './sides.js';
import { smtpMessages } from './smtp.js';
import { tuningRow } from './tuning.js';

const seconds = positiveNumber('BENCH_SECONDS', 5);
const idleOptions: IdleOptions = {
  wanted: Math.floor(positiveNumber('BENCH_SESSIONS', Number.POSITIVE_INFINITY)),
  served: Math.floor(positiveNumber('BENCH_LOGINS', 20_000)),
  workers: workersFrom(process.env.BENCH_IDLE_WORKERS),
};
const userCount = 200;
const loginConcurrency = [1, 50];
/** The TLS rows at the concurrency the comparison is about. */
const tlsConcurrency = [50];
const warmUpConcurrency = 8;
/**
 * A worker sees half the logins of one process and compiles its code over twice the time: after
 * 8 s two workers were still spending 12% of their samples in V8's optimizing compiler (about
 * 0.03 ms per IMAP login), so every side gets 40 s.
 */
const warmUpSeconds = positiveNumber('BENCH_WARM_UP_SECONDS', 40);
/** Turns of about 5 s each (three at least), so that each turn's CPU per login shows the trend. */
const warmUpLoad: WarmUpLoad = {
  seconds: warmUpSeconds,
  turns: Math.max(3, Math.round(warmUpSeconds / 5)),
  concurrency: 50,
  pauseMs: 250,
};
/** Before the TLS rows: IMAP logins with full handshakes, half as long (the code is TLS's). */
const tlsWarmUpLoad: WarmUpLoad = {
  ...warmUpLoad,
  seconds: warmUpSeconds / 2,
  turns: Math.max(2, Math.round(warmUpSeconds / 10)),
};
const pauseMs = 250;
/** POP3 logins per side in the row of answers to PASS (pass-wait.ts), about 7 ms each. */
const passWaitLogins = 400;

const users = Array.from({ length: userCount }, (_, i) =>
  benchUser(`user${String(i + 1).padStart(4, '0')}`),
);
const bigbox = benchUser('bigbox');

const cleanup = new Cleanup();
const holders: { current: SessionHolders | undefined } = { current: undefined };
let homingProcess: HomingProcess | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the proxies, Dovecot and slapd`);
    void cleanup.run().finally(() => process.exit(130));
  });
}

try {
  const only = partsFrom(process.env.BENCH_ONLY);
  const placement = placementFrom(process.env.BENCH_CPUS);
  pinBench(placement);
  console.log(systemLine());
  console.log(placementLine(placement));
  const priority = priorityFrom(process.env.BENCH_PRIORITY);
  console.log(priorityLine(priority));
  const cluster = await startCluster([...users, bigbox], placement, cleanup, priority);
  cleanup.add(() => {
    holders.current?.kill();
  });
  homingProcess = cluster.homing;
  describeSides(cluster);
  const rows = { users, seconds, pauseMs };
  if (only.has('tuning')) await tuningRow(cluster, users, Math.min(seconds, 3), cleanup);
  if (['idle', 'imap-logins', 'fetch', 'tls'].some((p) => only.has(p as never))) {
    await warmUpAll(cluster, 'imap', users, warmUpConcurrency);
    console.log(
      `warm-up: each of the ${userCount} users logged in with IMAP once on every side ` +
        '(directory caches warm)',
    );
  }
  if (only.has('imap-logins')) {
    console.log(await warmUpUnderLoad(cluster, 'imap', users, warmUpLoad));
    await loginRows(cluster, {
      protocol: 'imap',
      transport: 'plain',
      concurrencyLevels: loginConcurrency,
      ...rows,
    });
  }
  let mailbox: MailboxContents | undefined;
  const theMailbox = async () => {
    mailbox ??= await bigMailbox(cluster, bigbox);
    return mailbox;
  };
  if (only.has('fetch')) await fetchRows(cluster, bigbox, await theMailbox(), 'plain');
  if (['pop3-logins', 'pop3-pass', 'retr', 'tls'].some((p) => only.has(p as never))) {
    await warmUpAll(cluster, 'pop3', users, warmUpConcurrency);
    console.log(`warm-up: each user logged in with POP3 once on every side`);
  }
  if (only.has('pop3-logins')) {
    console.log(await warmUpUnderLoad(cluster, 'pop3', users, warmUpLoad));
    await loginRows(cluster, {
      protocol: 'pop3',
      transport: 'plain',
      concurrencyLevels: loginConcurrency,
      ...rows,
    });
  }
  if (only.has('pop3-pass')) await passWaitRow(cluster, users, passWaitLogins, pauseMs);
  if (only.has('retr')) await retrRows(cluster, bigbox, await theMailbox(), 'plain');
  if (only.has('tls')) {
    console.log(await warmUpUnderLoad(cluster, 'imap', users, tlsWarmUpLoad, 'tls'));
    for (const protocol of ['imap', 'pop3'] as const) {
      for (const transport of ['tls', 'tls-resumed'] satisfies Transport[]) {
        await loginRows(cluster, {
          protocol,
          transport,
          concurrencyLevels: tlsConcurrency,
          ...rows,
        });
      }
    }
    await fetchRows(cluster, bigbox, await theMailbox(), 'tls');
    await retrRows(cluster, bigbox, await theMailbox(), 'tls');
  }
  if (only.has('smtp')) await smtpMessages(cluster, users, seconds, pauseMs);
  // Last: after tens of thousands of sessions the machine is slow for a while (direct IMAP
  // logins at 802/s right after them in one run, 2364-2933/s otherwise), which rates must not see.
  if (only.has('idle')) await idleSessions(cluster, users, idleOptions, holders);
  console.log(
    "proxy CPU: user + system time of the proxy's own processes (/proc/PID/stat) over its " +
      "turns, divided by what they did; CPUs busy: all CPUs of the machine during each side's " +
      'turns (near 100%: the load generator, Dovecot and the proxy share the CPUs, and a ' +
      "proxy's CPU comes out of Dovecot's)",
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

function describeSides(cluster: Cluster): void {
  const workers = cluster.proxyWorkers;
  console.log(
    `direct: Dovecot ${dovecotVersion()}, tuned (login and mail processes that live on, ` +
      'service_count = 0; mail_fsync = never); OpenLDAP on loopback; ' +
      `${userCount} users`,
  );
  console.log(
    `nginx: ${nginxVersion()} mail proxy, ${processCount(workers + 1)}: a master and ` +
      `worker_processes ${workers} (one per CPU it may use); and auth_http, one Node process ` +
      "that looks the user up in the same LDAP through @homing/directory (cached, as homing's); " +
      'client address to Dovecot in a PROXY header (proxy_protocol on; nginx has no IMAP ID or ' +
      'POP3 XCLIENT)',
  );
  const relay = kernelRelayAvailable().available
    ? 'in the kernel (relay: kernel, splice(2))'
    : 'in Node (the kernel relay is not built)';
  console.log(
    `homing: ${homingProcesses(workers, process.versions.node)}; one session-ticket key for ` +
      'all (tls.session_ticket_keys); logging at info (its default); logged-in plaintext ' +
      `sessions relayed ${relay}; client address to Dovecot by IMAP ID and POP3 XCLIENT`,
  );
  if (cluster.loginSides.includes('homing/1')) {
    console.log(
      'homing/1: the same node with workers: 1, one process, on ports of its own; in the ' +
        'login rows only',
    );
  }
  console.log(
    'pipe: one bare Node process that replays the login to Dovecot and pipes the sockets ' +
      '(no directory, logs or limits): the floor of a Node proxy on this machine',
  );
  if (cluster.loginSides.includes('pipes')) {
    console.log(
      `pipes: the same pipe in ${processCount(workers)}, as many as homing's workers, each ` +
        'accepting on a socket of its own (SO_REUSEPORT) and one session-ticket key for all; ' +
        'in the login rows only: the floor of a pool of Node processes',
    );
  }
  console.log(
    `haproxy: HAProxy ${haproxyVersion()} in TCP mode, nbthread ${workers}, every session to the ` +
      'one Dovecot (it reads no login), bytes moved with splice(2) both ways through pipes of ' +
      `${haproxyPipeBytes / 1024 / 1024} MiB, as homing's kernel relay moves them; in the ` +
      'plaintext FETCH and RETR rows only: what any proxy in the path costs a download on this ' +
      'machine',
  );
}

function workersFrom(text: string | undefined): Workers {
  if (text === undefined || text === '' || text === 'auto') return 'auto';
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) {
    console.error(`BENCH_IDLE_WORKERS must be auto or a count, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return count;
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
