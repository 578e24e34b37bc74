import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawClient } from '@homing/testkit';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, mail, secret, startCluster } from './cluster.js';

// One cluster, one homing process, a login or a delivery through every protocol it serves: each
// reaches the user's own mailbox server, and only that one.
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

const marker = () => `m-${randomUUID()}`;
const holds = (user: string, id: string) => (box: 'a' | 'b') =>
  cluster[box].readMessages(user).filter((m) => m.includes(id)).length;

describe('a login through every protocol, each to its own home', () => {
  it('IMAP (imapflow, STARTTLS): alice on A, bob on B', async () => {
    for (const [uid, server] of [
      ['alice', 'A'],
      ['bob', 'B'],
    ] as const) {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: cluster.ports.imap,
        secure: false,
        doSTARTTLS: true,
        tls: { ca: readFileSync(cluster.certs.caCert, 'utf8'), servername: 'localhost' },
        auth: { user: uid, pass: secret(uid) },
        logger: false,
      });
      await client.connect();
      try {
        await client.mailboxOpen('INBOX');
        const first = await client.fetchOne('1', { envelope: true });
        expect(first === false ? 'no message 1' : first.envelope?.subject).toBe(
          `You are on backend ${server}`,
        );
      } finally {
        await client.logout();
      }
    }
  });

  it('POP3 (USER and PASS): bob retrieves the message of B', async () => {
    const client = await RawClient.connect({ port: cluster.ports.pop3 });
    try {
      await client.until(/^\+OK/);
      client.send('USER bob');
      await client.until(/^\+OK/);
      client.send(`PASS ${secret('bob')}`);
      await client.until(/^\+OK/);
      client.send('RETR 1');
      const lines = await client.until(/^\.$/);
      expect(lines).toContain('Subject: You are on backend B');
      client.send('QUIT');
    } finally {
      client.close();
    }
  });

  it('ManageSieve (AUTHENTICATE PLAIN, PUTSCRIPT): the script lands on A', async () => {
    const client = await RawClient.connect({ port: cluster.ports.managesieve });
    const plain = Buffer.from(`\0alice\0${secret('alice')}`).toString('base64');
    const script = 'require ["vacation"];\r\nvacation "Away until Monday.";\r\n';
    try {
      await client.until(/^OK/);
      client.send(`AUTHENTICATE "PLAIN" "${plain}"`);
      await client.until(/^OK/);
      client.send(`PUTSCRIPT "away" {${Buffer.byteLength(script)}+}\r\n${script}`);
      await client.until(/^OK/);
      client.send('LOGOUT');
    } finally {
      client.close();
    }
    expect(existsSync(join(cluster.a.sieveDir(mail('alice')), 'away.sieve'))).toBe(true);
    expect(existsSync(join(cluster.b.sieveDir(mail('alice')), 'away.sieve'))).toBe(false);
  });

  it('SMTP (the MX): mail for bob is delivered on B by LMTP', async () => {
    const id = marker();
    const info = await createTransport({
      host: '127.0.0.1',
      port: cluster.ports.smtp,
      secure: false,
      ignoreTLS: true,
    }).sendMail({ from: 'someone@example.net', to: mail('bob'), subject: id, text: 'via the MX' });
    expect(info.accepted).toEqual([mail('bob')]);
    await expect.poll(() => holds(mail('bob'), id)('b'), { timeout: 10_000 }).toBe(1);
    expect(holds(mail('bob'), id)('a')).toBe(0);
  });

  it('LMTP (from an edge MTA): mail for alice is delivered on A', async () => {
    const id = marker();
    const info = await createTransport({
      host: '127.0.0.1',
      port: cluster.ports.lmtp,
      lmtp: true,
      secure: false,
      ignoreTLS: true,
    }).sendMail({ from: 'edge@example.net', to: mail('alice'), subject: id, text: 'via LMTP' });
    expect(info.accepted).toEqual([mail('alice')]);
    await expect.poll(() => holds(mail('alice'), id)('a'), { timeout: 10_000 }).toBe(1);
  });

  it("submission (nodemailer, STARTTLS, AUTH): alice's mail goes through her home to bob", async () => {
    const id = marker();
    const info = await createTransport({
      host: '127.0.0.1',
      port: cluster.ports.submission,
      secure: false,
      requireTLS: true,
      tls: { ca: readFileSync(cluster.certs.caCert, 'utf8'), servername: 'localhost' },
      auth: { user: 'alice', pass: secret('alice') },
    }).sendMail({ from: mail('alice'), to: mail('bob'), subject: id, text: 'via submission' });
    expect(info.accepted).toEqual([mail('bob')]);
    // Dovecot A's submission service took it and handed it on to homing's MX, which put it on B.
    await expect.poll(() => holds(mail('bob'), id)('b'), { timeout: 10_000 }).toBe(1);
    expect(cluster.a.log()).toMatch(/submission-login: Info: Login: user=<alice@example.com>/);
  });

  it('refuses a wrong password over IMAP and POP3 with their own failed-login replies', async () => {
    const imap = await RawClient.connect({ port: cluster.ports.imap });
    const pop3 = await RawClient.connect({ port: cluster.ports.pop3 });
    try {
      await imap.until(/^\* OK/);
      imap.send('a1 LOGIN alice wrong');
      expect((await imap.until(/^a1 /)).at(-1)).toBe(
        'a1 NO [AUTHENTICATIONFAILED] Authentication failed.',
      );
      await pop3.until(/^\+OK/);
      pop3.send('USER alice');
      await pop3.until(/^\+OK/);
      pop3.send('PASS wrong');
      expect((await pop3.until(/^-ERR/)).at(-1)).toBe('-ERR [AUTH] Authentication failed.');
    } finally {
      imap.close();
      pop3.close();
    }
  });
});
