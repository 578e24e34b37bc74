/**
 * Lookup throughput against a real slapd: cached, and uncached (every lookup a search) one at a
 * time and with 16 in flight. Run from packages/directory: `npm run bench`.
 * BENCH_SECONDS sets how long each measurement runs (default 3).
 */
import {
  type LdapUser,
  Slapd,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
} from '@homing/testkit';
import {
  type CacheOptions,
  Catalog,
  Directory,
  defaultAddressRules,
  LdapSource,
} from '../src/index.js';

const userCount = 2000;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const concurrency = 16;

const users: LdapUser[] = Array.from({ length: userCount }, (_, i) => {
  const uid = `user${String(i).padStart(4, '0')}`;
  return {
    uid,
    mail: `${uid}@example.com`,
    password: `${uid}-pw`,
    mailHost: i % 2 === 0 ? 'mbox-a' : 'mbox-b',
    ...(i % 3 === 0 ? { aliases: [`${uid}.alias@example.com`] } : {}),
  };
});
const addresses = users.map((u) => u.mail);

const catalog = new Catalog({
  backends: {
    'mbox-a': { host: '10.0.0.1', endpoints: {}, tls: { verify: true } },
    'mbox-b': { host: '10.0.0.2', endpoints: {}, tls: { verify: true } },
  },
  literalDefaults: {},
  literalTls: { verify: true },
  allowLiteral: false,
});

function directory(url: string, cache: CacheOptions): Directory {
  const source = new LdapSource({
    urls: [url],
    bindDn: slapdServiceDn,
    bindPassword: slapdServicePassword,
    startTls: false,
    tls: { verify: true },
    timeoutMs: 5000,
    connectTimeoutMs: 1000,
    baseDn: `ou=people,${slapdSuffix}`,
    scope: 'sub',
    filter: '(|(uid={address})(mail={address})(mailLocalAddress={address}))',
    loginAttributes: ['mailRoutingAddress', 'mail'],
    homeAttribute: 'mailHost',
    extraAttributes: ['mailLocalAddress'],
  });
  return new Directory({ source, catalog, rules: defaultAddressRules, cache });
}

/** Runs `workers` loops of lookups of random users until the time is up; lookups per second. */
async function measure(target: Directory, workers: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const address = addresses[Math.floor(Math.random() * addresses.length)] as string;
      const { route } = await target.lookup(address);
      if (!route) throw new Error(`${address} was not found`);
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return done / ((performance.now() - started) / 1000);
}

const slapd = await Slapd.start(users);
const open: Directory[] = [];
const cleanUp = async () => {
  await Promise.all(open.map((d) => d.close()));
  await slapd.destroy();
};
process.once('SIGINT', () => {
  cleanUp().finally(() => process.exit(130));
});

try {
  console.log(`slapd with ${userCount} users at ${slapd.url}; ${seconds} s per measurement`);

  const cached = directory(slapd.url, {
    maxEntries: 10_000,
    ttlMs: 3_600_000,
    negativeTtlMs: 60_000,
    staleIfErrorMs: 0,
  });
  open.push(cached);
  for (let i = 0; i < addresses.length; i += concurrency) {
    await Promise.all(addresses.slice(i, i + concurrency).map((a) => cached.lookup(a)));
  }
  console.log(`cached lookups/s: ${Math.round(await measure(cached, 1))}`);

  const uncached = directory(slapd.url, {
    maxEntries: 10_000,
    ttlMs: 0,
    negativeTtlMs: 0,
    staleIfErrorMs: 0,
  });
  open.push(uncached);
  console.log(`uncached lookups/s: ${Math.round(await measure(uncached, 1))}`);
  console.log(
    `uncached lookups/s (concurrency ${concurrency}): ${Math.round(await measure(uncached, concurrency))}`,
  );
  const latency = uncached.sourceLatency;
  console.log(
    `uncached mean search latency ms: ${((latency.sum / latency.count) * 1000).toFixed(3)}`,
  );
} finally {
  await cleanUp();
}
