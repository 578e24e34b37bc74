/**
 * The SMTP part: messages per second through homing's MX listener against the same messages
 * straight to Dovecot's LMTP, with one message per connection (as most MX traffic comes) and
 * many; each message for 1 to 3 users picked at random (on both backends); then a check that
 * each accepted copy arrived exactly once.
 */
import { randomBytes } from 'node:crypto';
import type { Dovecot } from '@homing/testkit';
import { type BenchUser, benchHome, type Cluster } from './cluster.js';
import { totalCpuMs } from './cpu.js';
import { percent, row } from './report.js';
import { SmtpClient, type SmtpReply } from './smtp-client.js';
import { type Side, sleep, slicesPerSide, sliceTurns, takeTurns } from './turns.js';

/** Rows: connections at a time, and messages each connection sends before it says QUIT. */
const levels = [
  { connections: 20, perConnection: 1 },
  { connections: 16, perConnection: 25 },
] as const;
const maxRecipients = 3;
const bodyBytes = 4096;
/**
 * Unmeasured traffic before each row, at that row's level, the sides taking turns: every
 * user's maildir exists, and the code each side runs for that kind of traffic has run hot. On
 * the development machine both sides' rates climb over their first seconds (Dovecot's as much
 * as homing's, whose code V8 compiles as it runs hot): homing's CPU per message at one message
 * per connection fell from 1.4 ms in its first 3 s of that traffic to 0.6 after 9 s and
 * 0.44-0.48 after 20-25 s (measured before its SMTP server side was its own), so both get 25 s
 * of it.
 */
const warmUpTurns: readonly Side[] = Array.from({ length: 5 }, (): Side[] => [
  'direct',
  'homing/1',
]).flat();
/**
 * SMTP is compared direct against homing only (nginx and the pipe are for IMAP and POP3 here),
 * through the node with one process: the MX's delivery journal (\`state: memory\`, its default)
 * is each process's own, so in a pool of workers a client's retry that reaches another worker is
 * not recognised (a pool wants the Redis journal), and one process is where the default is right.
 * Through two workers on the development machine the rows read 0.90, 0.98, 0.82 and 0.86 of
 * direct at 0.59, 0.64, 0.52 and 0.62 ms of CPU per message, every copy delivered once.
 */
const smtpSides: readonly Side[] = ['direct', 'homing/1'];
const warmUpTurnSeconds = 5;
const sender = 'bench@example.net';
/** LMTP answers after the delivery; a last message may still be on its way through homing. */
const arrivalWaitMs = 5000;
const ID_HEADER = /^X-Bench-Id: (\S+?)\r?$/m;

/** Every message sent: where it went and, per recipient, whether it was accepted (250). */
interface Sent {
  readonly recipients: readonly string[];
  readonly side: Side;
  readonly accepted: readonly boolean[];
}

interface SmtpSample {
  readonly accepted: number;
  readonly refused: number;
  readonly latencies: readonly number[];
  readonly elapsedMs: number;
}

/** What the maildirs hold of the messages sent. */
interface DeliveryCheck {
  readonly accepted: number;
  readonly refused: number;
  /** Copies accepted (one per recipient) and not in the recipient's INBOX. */
  readonly lost: number;
  /** Accepted and in the recipient's INBOX more than once. */
  readonly duplicated: number;
  /** Refused and delivered all the same. */
  readonly refusedDelivered: number;
  /** Copies in another user's INBOX. */
  readonly misrouted: number;
}

export async function smtpMessages(
  { dovecot, processes, smtp }: Cluster,
  users: readonly BenchUser[],
  seconds: number,
  pauseMs: number,
): Promise<void> {
  const ledger = {
    run: randomBytes(4).toString('hex'),
    sent: new Map<string, Sent>(),
    next: { message: 0 },
  };
  console.log(
    `warm-up before each row: ${warmUpTurns.length / 2} × ${warmUpTurnSeconds} s of messages ` +
      "each way at the row's level, taking turns (every user's maildir made, both sides past " +
      'their first seconds of that traffic); they are in the delivery check too',
  );
  for (const level of levels) {
    for (const side of warmUpTurns)
      await smtpSample(smtpPort(smtp, side), side, users, warmUpTurnSeconds, level, ledger);
    // Direct as the bench has always sent it (a message for both homes in one transaction, which
    // only one server under two names allows), then as a real MX must: one per home.
    for (const byHome of [false, true]) {
      const { results, usage } = await takeTurns(
        processes,
        sliceTurns(smtpSides),
        (side) =>
          smtpSample(
            smtpPort(smtp, side),
            side,
            users,
            seconds / slicesPerSide,
            level,
            ledger,
            byHome && side === 'direct',
          ),
        pauseMs,
      );
      const direct = messageRate(results.direct);
      const through = messageRate(results['homing/1']);
      const relayed = results['homing/1'].reduce((sum, s) => sum + s.accepted, 0);
      console.log(
        row(
          `SMTP msgs/s ${level.perConnection}/conn c=${level.connections}${byHome ? ' by home' : ''}`,
          direct.perSecond,
          through.perSecond,
          [
            `p50 ${direct.p50Ms.toFixed(1)} / ${through.p50Ms.toFixed(1)} ms`,
            `homing CPU ${(totalCpuMs(usage['homing/1']) / relayed).toFixed(2)} ms/message`,
            `CPUs busy ${percent(usage.direct.machineBusy)} / ${percent(usage['homing/1'].machineBusy)}`,
          ],
          { direct: 'direct LMTP', homing: 'homing MX' },
        ),
      );
    }
  }
  const check = await checkDeliveries(dovecot, users, ledger.sent);
  const refusedNote = check.refused > 0 ? `, ${check.refused} refused` : '';
  const lateNotes = [
    check.refusedDelivered > 0 ? `${check.refusedDelivered} refused but delivered` : '',
    check.misrouted > 0 ? `${check.misrouted} in another user's INBOX` : '',
  ].filter(Boolean);
  console.log(
    `SMTP delivery check: ${check.accepted} copies accepted${refusedNote}: lost ${check.lost}, ` +
      `duplicated ${check.duplicated}${lateNotes.map((n) => `, ${n}`).join('')}`,
  );
  console.log(
    `  one message = MAIL, RCPT for 1 to ${maxRecipients} of the ${users.length} users at ` +
      `random (half on backend mbox-a, half on mbox-b), DATA of ` +
      `${(bodyBytes / 1000).toFixed(1)} kB with a unique X-Bench-Id header; a connection ` +
      `sends one transaction after the other, n/conn of them before QUIT and a new ` +
      `connection; ${seconds} s each side and row in ${slicesPerSide} slices taking turns`,
  );
  console.log(
    '  direct: LHLO and the transactions on Dovecot LMTP; homing: EHLO on the MX listener of ' +
      'the node with one process (homing/1; its delivery journal, state: memory, is per process), ' +
      "which routes each recipient to its backend's LMTP (mbox-a and mbox-b are the same " +
      'Dovecot, two backends to homing: a message for both is two LMTP transactions, at once). ' +
      'Every message of both sides was looked for in every INBOX by its X-Bench-Id',
  );
  console.log(
    '  "by home" rows: direct sends a message for users on both homes as one LMTP transaction ' +
      'per home, one after the other, as an MX without homing must when they are two servers; ' +
      'the other rows send it in one transaction, which only one server under two names allows',
  );
  const wrong = check.lost + check.duplicated + check.refusedDelivered + check.misrouted;
  if (wrong > 0) throw new Error('SMTP: not every accepted message arrived exactly once');
}

/**
 * `level.connections` workers sending messages one after the other for `seconds`, each on a
 * connection it replaces after `level.perConnection` messages; the message number comes from
 * `ledger`, where each message is written down with its outcome. The first worker that fails
 * stops them all and is thrown.
 */
async function smtpSample(
  port: number,
  side: Side,
  users: readonly BenchUser[],
  seconds: number,
  level: { readonly connections: number; readonly perConnection: number },
  ledger: { run: string; sent: Map<string, Sent>; next: { message: number } },
  byHome = false,
): Promise<SmtpSample> {
  const latencies: number[] = [];
  let refused = 0;
  let failure: unknown;
  const open = new Set<SmtpClient>();
  const hello = side === 'direct' ? 'LHLO' : 'EHLO';
  // Each user's home, for a direct side that delivers one transaction per home.
  const homes = new Map(users.map((u, i) => [u.address, benchHome(i)]));
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (failure === undefined && performance.now() < deadline) {
      const begin = performance.now();
      let client: SmtpClient | undefined;
      try {
        client = await SmtpClient.open(port, hello);
        open.add(client);
        for (let i = 0; i < level.perConnection; i += 1) {
          if (failure !== undefined || performance.now() >= deadline) break;
          const n = ledger.next.message++;
          const recipients = pick(users, n);
          const id = `${ledger.run}.${n}`;
          const from = i === 0 ? begin : performance.now();
          const replies = byHome
            ? await transactionPerHome(client, recipients, message(id, recipients), homes)
            : await client.transaction(sender, recipients, message(id, recipients));
          const accepted = replies.map((r) => r.code === 250);
          ledger.sent.set(id, { recipients, side, accepted });
          if (accepted.every(Boolean)) latencies.push(performance.now() - from);
          else {
            refused += 1;
            const reply = replies.find((r) => r.code !== 250);
            if (refused === 1) console.log(`  ${side}: message refused: ${reply?.lines.join(' ')}`);
          }
        }
        await client.quit();
      } catch (error) {
        // No reply: whether it was delivered is unknown, so it counts as neither.
        failure ??= error;
        return;
      } finally {
        if (client) {
          open.delete(client);
          client.destroy();
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: level.connections }, worker));
    if (failure !== undefined) throw failure;
    const elapsedMs = performance.now() - started;
    return { accepted: latencies.length, refused, latencies, elapsedMs };
  } finally {
    for (const client of open) client.destroy();
  }
}

/**
 * The message as an MX without homing must send it when its recipients live on different
 * mailbox servers: one transaction per home, one after the other on the one connection (the
 * bench's two homes are the same Dovecot). Replies in the order of `recipients`.
 */
async function transactionPerHome(
  client: SmtpClient,
  recipients: readonly string[],
  data: Buffer,
  homes: ReadonlyMap<string, string>,
): Promise<SmtpReply[]> {
  const groups = new Map<string, string[]>();
  for (const recipient of recipients) {
    const home = homes.get(recipient) as string;
    groups.set(home, [...(groups.get(home) ?? []), recipient]);
  }
  const byRecipient = new Map<string, SmtpReply>();
  for (const group of groups.values()) {
    const replies = await client.transaction(sender, group, data);
    for (const [i, recipient] of group.entries()) {
      byRecipient.set(recipient, replies[i] as SmtpReply);
    }
  }
  return recipients.map((recipient) => byRecipient.get(recipient) as SmtpReply);
}

/** 1 to `maxRecipients` different users for message `n`, at random. */
function pick(users: readonly BenchUser[], n: number): string[] {
  const count = 1 + (n % maxRecipients);
  const picked = new Set<string>();
  while (picked.size < count)
    picked.add((users[Math.floor(Math.random() * users.length)] as BenchUser).address);
  return [...picked];
}

/** Accepted messages per second and the median time of one transaction. */
function messageRate(samples: readonly SmtpSample[]): { perSecond: number; p50Ms: number } {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const elapsedMs = samples.reduce((sum, s) => sum + s.elapsedMs, 0);
  const p50Ms = latencies[Math.floor(latencies.length / 2)] ?? Number.NaN;
  return { perSecond: latencies.length / (elapsedMs / 1000), p50Ms };
}

/**
 * Reads every user's INBOX and finds each message sent by its X-Bench-Id. Accepted messages
 * missing are looked for again for up to `arrivalWaitMs`.
 */
async function checkDeliveries(
  dovecot: Dovecot,
  users: readonly BenchUser[],
  sent: ReadonlyMap<string, Sent>,
): Promise<DeliveryCheck> {
  const deadline = performance.now() + arrivalWaitMs;
  for (;;) {
    const check = countDeliveries(dovecot, users, sent);
    if (check.lost === 0 || performance.now() > deadline) return check;
    await sleep(500);
  }
}

function countDeliveries(
  dovecot: Dovecot,
  users: readonly BenchUser[],
  sent: ReadonlyMap<string, Sent>,
): DeliveryCheck {
  const copies = new Map<string, number>();
  let misrouted = 0;
  for (const user of users) {
    for (const text of dovecot.readMessages(user.address)) {
      const id = ID_HEADER.exec(text)?.[1];
      const message = id === undefined ? undefined : sent.get(id);
      if (id === undefined || !message) continue;
      const key = `${id} ${user.address}`;
      if (!message.recipients.includes(user.address)) misrouted += 1;
      else copies.set(key, (copies.get(key) ?? 0) + 1);
    }
  }
  let accepted = 0;
  let refused = 0;
  let lost = 0;
  let duplicated = 0;
  let refusedDelivered = 0;
  for (const [id, message] of sent) {
    message.recipients.forEach((recipient, i) => {
      const count = copies.get(`${id} ${recipient}`) ?? 0;
      if (message.accepted[i]) {
        accepted += 1;
        if (count === 0) lost += 1;
        if (count > 1) duplicated += 1;
      } else {
        refused += 1;
        if (count > 0) refusedDelivered += 1;
      }
    });
  }
  return { accepted, refused, lost, duplicated, refusedDelivered, misrouted };
}

/** The body every message shares: text lines, two of them starting with a dot (stuffed). */
const body = (() => {
  const lines = ['This message was sent by the homing benchmark.', '.', '.a line with a dot'];
  const filler = 'The quick brown fox jumps over the lazy dog, and the bench counts it. ';
  let size = lines.reduce((sum, l) => sum + l.length + 2, 0);
  for (let i = 0; size < bodyBytes; i++) {
    const line = `${String(i).padStart(3, '0')} ${filler}`.slice(0, 76);
    lines.push(line);
    size += line.length + 2;
  }
  return lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
})();

/** A message with a unique id, dot-stuffed and ending in CRLF.CRLF, as DATA sends it. */
function message(id: string, recipients: readonly string[]): Buffer {
  const head = [
    `From: homing bench <${sender}>`,
    `To: ${recipients.join(', ')}`,
    `Subject: bench message ${id}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@bench.example.net>`,
    `X-Bench-Id: ${id}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}\r\n.\r\n`, 'latin1');
}

function smtpPort(ports: Cluster['smtp'], side: Side): number {
  if (side !== 'direct' && side !== 'homing' && side !== 'homing/1') {
    throw new Error(`no SMTP on the ${side} side`);
  }
  return ports[side];
}
