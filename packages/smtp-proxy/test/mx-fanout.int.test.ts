import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  type JournalEvent,
  noMetrics,
  SessionRegistry,
} from '@homing/proxy-core';
import { Dovecot, freePort, Postfix, RedisServer, Slapd } from '@homing/testkit';
import nodemailer from 'nodemailer';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeliveryJournal,
  MemoryJournal,
  RedisJournal,
  startSmtpListener,
} from '../src/index.js';
import { CutWire } from './cut-wire.js';

// A real Postfix relays to homing's MX (through `front`, which picks the homing node), and
// homing delivers to two Dovecots: A has alice and carol, B (behind `wireB`) has bob.
let slapd: Slapd;
let a: Dovecot;
let b: Dovecot;
let redis: RedisServer;
let postfix: Postfix;
let directory: Directory;
let wireB: CutWire;
let front: CutWire;
const servers: Server[] = [];
const journals: DeliveryJournal[] = [];
const nodes = { memory: 0, redis1: 0, redis2: 0 };
const events = new Map<JournalEvent, number>();
/** Backend connections opened, as the metrics saw them: `backend protocol ok|failed`. */
const connects: string[] = [];
const logLines: string[] = [];

const everyone = ['alice@example.com', 'carol@example.com', 'bob@example.com'];

beforeAll(async () => {
  [slapd, a, b, redis] = await Promise.all([
    Slapd.start([
      { uid: 'alice', mail: 'alice@example.com', password: 'x', mailHost: 'mbox-a' },
      { uid: 'carol', mail: 'carol@example.com', password: 'x', mailHost: 'mbox-a' },
      { uid: 'bob', mail: 'bob@example.com', password: 'x', mailHost: 'mbox-b' },
    ]),
    Dovecot.start({
      name: 'A',
      users: [
        { user: 'alice@example.com', password: 'x' },
        { user: 'carol@example.com', password: 'x' },
      ],
    }),
    Dovecot.start({ name: 'B', users: [{ user: 'bob@example.com', password: 'x' }] }),
    RedisServer.start(),
  ]);
  wireB = await CutWire.start(b.lmtpPort);
  const tls = { verify: false };
  directory = new Directory({
    source: new LdapSource({ ...slapd.sourceOptions(), filter: '(mail={address})' }),
    catalog: new Catalog({
      backends: {
        'mbox-a': {
          host: '127.0.0.1',
          endpoints: { lmtp: { port: a.lmtpPort, tls: 'none', forward: 'xclient' } },
          tls,
        },
        'mbox-b': {
          host: '127.0.0.1',
          endpoints: { lmtp: { port: wireB.port, tls: 'none', forward: 'none' } },
          tls,
        },
      },
      literalDefaults: {},
      literalTls: tls,
      allowLiteral: false,
    }),
    rules: defaultAddressRules,
    cache: { maxEntries: 100, ttlMs: 60_000, negativeTtlMs: 0, staleIfErrorMs: 60_000 },
  });
  const retentionMs = 5 * 86_400_000;
  const journalFor: Record<keyof typeof nodes, () => DeliveryJournal> = {
    memory: () => new MemoryJournal({ retentionMs, maxEntries: 1000 }),
    // Two nodes of a pool, each with its own connection to the pool's Redis.
    redis1: () => redisJournal(retentionMs),
    redis2: () => redisJournal(retentionMs),
  };
  for (const name of Object.keys(nodes) as (keyof typeof nodes)[]) {
    nodes[name] = await freePort();
    const journal = journalFor[name]();
    journals.push(journal);
    servers.push(
      await startSmtpListener({
        spec: {
          name,
          host: '127.0.0.1',
          port: nodes[name],
          tls: 'none',
          proxyProtocol: false,
          trustedProxies: new AddressSet([]),
        },
        kind: 'mx',
        directory,
        health: new BackendHealth({ backoffMinMs: 100, backoffMaxMs: 200 }),
        limits: { ...defaultLimits, backendConnectTimeoutMs: 1000, directoryTimeoutMs: 1000 },
        registry: new SessionRegistry(),
        tls: undefined,
        hostname: `homing-${name}.test`,
        maxMessageBytes: 1_000_000,
        maxRecipients: 50,
        maxReceived: 30,
        policy: 'fanout',
        journal,
        smtputf8: false,
        dsn: false,
        isOwnAddress: () => false,
        metrics: {
          ...noMetrics,
          backendConnect: (backend, protocol, _seconds, ok) =>
            connects.push(`${backend} ${protocol} ${ok ? 'ok' : 'failed'}`),
          smtpJournal: (event, count) => events.set(event, (events.get(event) ?? 0) + count),
        },
        log: pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) }),
      }),
    );
  }
  front = await CutWire.start(nodes.memory);
  postfix = await Postfix.start({
    name: 'sender',
    domains: ['example.com'],
    relayTo: { host: '127.0.0.1', port: front.port },
  });
});

afterAll(async () => {
  for (const s of servers) s.close();
  await Promise.allSettled(journals.map((j) => j.close()));
  wireB?.close();
  front?.close();
  await directory?.close();
  await Promise.all([slapd?.destroy(), a?.destroy(), b?.destroy(), postfix?.destroy()]);
  await redis?.destroy();
});

function redisJournal(retentionMs: number): RedisJournal {
  return new RedisJournal({
    url: redis.url,
    keyPrefix: 'homing-test:',
    retentionMs,
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
  });
}

/** Hands a message to Postfix, which relays it to homing's MX. */
async function send(marker: string, to: readonly string[]): Promise<void> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: postfix.port,
    secure: false,
    ignoreTLS: true,
  });
  try {
    await transport.sendMail({
      envelope: { from: 'sender@example.net', to: [...to] },
      from: 'sender@example.net',
      to: [...to],
      subject: marker,
      text: `A message for three, ${marker}.\n.a line with a dot\n`,
    });
  } finally {
    transport.close();
  }
}

function copies(user: string, marker: string): number {
  const server = user.startsWith('bob') ? b : a;
  return server.readMessages(user).filter((m) => m.includes(marker)).length;
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const deferrals = () => postfix.log().split('status=deferred').length - 1;

/**
 * Bob's backend dies while the message goes to it: alice and carol have it, Postfix defers it
 * for all three. Then `retryAt` gets the retry (`postqueue -f`): each ends with one copy.
 */
async function killedBackendThenRetry(retryAt: number): Promise<void> {
  const marker = `m-${randomUUID()}`;
  const deferredBefore = deferrals();
  wireB.cutAt(marker);
  await send(marker, everyone);
  await until('the deferral', () => deferrals() >= deferredBefore + everyone.length);
  expect(wireB.armed).toBe(false);
  expect(copies('alice@example.com', marker)).toBe(1);
  expect(copies('carol@example.com', marker)).toBe(1);
  expect(copies('bob@example.com', marker)).toBe(0);

  front.switchTo(retryAt);
  await postfix.flush();
  await until('the retry to reach bob', () => copies('bob@example.com', marker) === 1);
  await until('the queue to empty', () => postfix.queueSize() === 0);
  for (const user of everyone) expect(copies(user, marker), user).toBe(1);
  expect(postfix.log()).toMatch(/status=sent .*delivered earlier/);
}

describe('MX fanout with the delivery journal, behind a real Postfix', () => {
  it('delivers a message for three recipients on two backends to all of them at once', async () => {
    front.switchTo(nodes.memory);
    const marker = `m-${randomUUID()}`;
    const started = performance.now();
    await send(marker, everyone);
    await until('all three copies', () => everyone.every((u) => copies(u, marker) === 1), 2000);
    expect(performance.now() - started).toBeLessThan(2000);
    await until('the queue to empty', () => postfix.queueSize() === 0);
    expect(deferrals()).toBe(0);
    expect(connects).toEqual(expect.arrayContaining(['mbox-a lmtp ok', 'mbox-b lmtp ok']));
  });

  it('a backend killed during the transaction: the retry leaves one copy in each mailbox', async () => {
    front.switchTo(nodes.memory);
    const skippedBefore = events.get('skipped') ?? 0;
    await killedBackendThenRetry(nodes.memory);
    expect(events.get('recorded')).toBeGreaterThanOrEqual(2);
    expect((events.get('skipped') ?? 0) - skippedBefore).toBe(2);
  });

  it('backend connections are reused by the next client sessions', async () => {
    const before = wireB.connections;
    const marker = `m-${randomUUID()}`;
    for (let i = 0; i < 3; i += 1) {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: nodes.memory,
        secure: false,
        ignoreTLS: true,
      });
      await transport.sendMail({
        envelope: { from: 'sender@example.net', to: ['bob@example.com', 'alice@example.com'] },
        raw: `Subject: ${marker} ${i}\r\n\r\nsession ${i}\r\n`,
      });
      transport.close();
    }
    expect(copies('bob@example.com', marker)).toBe(3);
    expect(copies('alice@example.com', marker)).toBe(3);
    expect(wireB.connections - before).toBeLessThanOrEqual(1);
  });

  it('two nodes sharing Redis: the retry reaches the other node and still one copy each', async () => {
    front.switchTo(nodes.redis1);
    await killedBackendThenRetry(nodes.redis2);
  });

  it('while Redis is down a transaction keeps to one backend (452), and nothing is lost', async () => {
    front.switchTo(nodes.redis1);
    const journal = journals[1] as DeliveryJournal;
    const fallbacksBefore = events.get('fallback') ?? 0;
    const deferredBefore = deferrals();
    await redis.kill();
    await until('the journal to be unavailable', () => !journal.available);
    const marker = `m-${randomUUID()}`;
    await send(marker, everyone);
    await until('bob deferred', () => deferrals() > deferredBefore);
    expect(postfix.log()).toMatch(/to=<bob@example\.com>.*status=deferred.*452 4\.5\.3/);
    await until('alice and carol', () => copies('carol@example.com', marker) === 1);
    expect(copies('alice@example.com', marker)).toBe(1);
    expect(copies('bob@example.com', marker)).toBe(0);
    expect((events.get('fallback') ?? 0) - fallbacksBefore).toBeGreaterThanOrEqual(1);

    await redis.resume();
    await until('the journal to be back', () => journal.available);
    await postfix.flush();
    await until('the retry to reach bob', () => copies('bob@example.com', marker) === 1);
    await until('the queue to empty', () => postfix.queueSize() === 0);
    for (const user of everyone) expect(copies(user, marker), user).toBe(1);
  });

  it('stopped listeners close the backend connections they kept, once their sessions end', async () => {
    expect(wireB.open).toBeGreaterThan(0);
    front.switchTo(nodes.memory); // Postfix's cached sessions end
    for (const s of servers) s.close();
    await until('no backend connection left', () => wireB.open === 0);
  });
});
