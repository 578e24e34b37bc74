import { randomUUID } from 'node:crypto';
import { RawClient } from '@homing/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fingerprint } from '../src/index.js';
import { SmtpCluster } from './cluster.js';

// A retry whose earlier attempt reached some recipients, as the journal remembers it: alice
// and carol share backend A, bob is on B.
let cluster: SmtpCluster;

beforeAll(async () => {
  cluster = await SmtpCluster.start();
});

afterAll(async () => {
  await cluster?.destroy();
});

const sender = 'retry@example.net';

function message(marker: string): { header: string; text: string } {
  const header = `From: <${sender}>\r\nSubject: ${marker}\r\nMessage-ID: <${marker}@example.net>\r\n\r\n`;
  return { header, text: `${header}body of ${marker}\r\n..a dotted line\r\n` };
}

function fingerprint(header: string): string {
  const print = new Fingerprint(sender, 65_536);
  return print.push(Buffer.from(header, 'latin1')) ?? print.end();
}

/** One transaction on the fanout MX; returns the reply to the message. */
async function transaction(rcpts: readonly string[], text: string): Promise<string> {
  const client = await RawClient.connect({ port: cluster.ports.fanout });
  try {
    await client.until(/^220 /);
    client.send('EHLO client.example.net');
    await client.until(/^250 /);
    client.send(`MAIL FROM:<${sender}>`);
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    for (const rcpt of rcpts) {
      client.send(`RCPT TO:<${rcpt}>`);
      expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^250 /);
    }
    client.send('DATA');
    expect((await client.until(/^\d{3} /)).at(-1)).toMatch(/^354 /);
    client.write(`${text.replace(/^\./gm, '..')}.\r\n`);
    return (await client.until(/^\d{3} /)).at(-1) as string;
  } finally {
    client.close();
  }
}

const copies = (user: string, marker: string) => cluster.delivered(user, marker).length;

describe('a retry of a message the journal knows', () => {
  it('reaches only the recipients still without it, on a backend shared with one who has it', async () => {
    const marker = `m-${randomUUID()}`;
    const { header, text } = message(marker);
    await cluster.journal.record(
      fingerprint(header),
      new Map([['alice@example.com', '2.0.0 <alice@example.com> q1 Saved']]),
    );
    const reply = await transaction(
      ['alice@example.com', 'carol@example.com', 'bob@example.com'],
      text,
    );
    expect(reply).toMatch(/^250 .*delivered earlier: 2\.0\.0 <alice@example\.com> q1 Saved/);
    expect(copies('alice@example.com', marker)).toBe(0);
    expect(copies('carol@example.com', marker)).toBe(1);
    expect(copies('bob@example.com', marker)).toBe(1);
    expect(cluster.delivered('carol@example.com', marker)[0]).toContain('\n..a dotted line\n');
  });

  it('leaves out a backend whose recipients all have it, and answers 250', async () => {
    const marker = `m-${randomUUID()}`;
    const { header, text } = message(marker);
    await cluster.journal.record(
      fingerprint(header),
      new Map([
        ['alice@example.com', '2.0.0 q1'],
        ['carol@example.com', '2.0.0 q1'],
      ]),
    );
    const reply = await transaction(
      ['alice@example.com', 'carol@example.com', 'bob@example.com'],
      text,
    );
    expect(reply).toMatch(/^250 /);
    expect(copies('alice@example.com', marker)).toBe(0);
    expect(copies('carol@example.com', marker)).toBe(0);
    expect(copies('bob@example.com', marker)).toBe(1);
  });

  it('the same message from another sender is not taken for the retry', async () => {
    const marker = `m-${randomUUID()}`;
    const { header, text } = message(marker);
    const other = new Fingerprint('someone@example.net', 65_536);
    await cluster.journal.record(
      other.push(Buffer.from(header, 'latin1')) ?? other.end(),
      new Map([['bob@example.com', '2.0.0 q9']]),
    );
    expect(await transaction(['alice@example.com', 'bob@example.com'], text)).toMatch(/^250 /);
    expect(copies('alice@example.com', marker)).toBe(1);
    expect(copies('bob@example.com', marker)).toBe(1);
  });

  it('another message of the same sender after a retry goes to everyone', async () => {
    const first = `m-${randomUUID()}`;
    const second = `m-${randomUUID()}`;
    await cluster.journal.record(
      fingerprint(message(first).header),
      new Map([['alice@example.com', '2.0.0 q1']]),
    );
    expect(
      await transaction(['alice@example.com', 'carol@example.com'], message(first).text),
    ).toMatch(/^250 /);
    expect(
      await transaction(['alice@example.com', 'carol@example.com'], message(second).text),
    ).toMatch(/^250 /);
    expect(copies('alice@example.com', first)).toBe(0);
    expect(copies('carol@example.com', first)).toBe(1);
    expect(copies('alice@example.com', second)).toBe(1);
    expect(copies('carol@example.com', second)).toBe(1);
  });
});
