import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@homing/server';
import { afterAll, describe, expect, it } from 'vitest';
import { type HomingConfig, homingConfig } from '../src/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ticketKeys = join(dir, 'ticket-keys');
writeFileSync(ticketKeys, randomBytes(48));

const base: HomingConfig = {
  ldapUrl: 'ldap://127.0.0.1:3890',
  ports: { imap: 10143, imaps: 10993, pop3: 10110, pop3s: 10995 },
  smtpPort: 10025,
  dovecot: { imapPort: 20143, pop3Port: 20110, lmtpPort: 20024 },
  certs: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
  ticketKeys,
  workers: 1,
  sources: [],
  balance: 'fill',
  priority: 0,
};

/** The config the bench writes, as homing reads it. */
function loaded(config: HomingConfig) {
  const path = join(dir, `homing-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, homingConfig(config));
  return loadConfig(path).config;
}

describe("the bench's homing config", () => {
  it('is a config homing accepts, with the workers asked for', () => {
    expect(loaded({ ...base, workers: 2 }).workers).toBe(2);
    expect(loaded({ ...base, workers: 1 }).workers).toBe(1);
    expect(loaded({ ...base, workers: 'auto' }).workers).toBe('auto');
  });

  it("sets process_priority to the proxies' priority, and leaves it out at 0", () => {
    expect(loaded({ ...base, priority: -5 }).process_priority).toBe(-5);
    expect(loaded(base).process_priority).toBeUndefined();
  });

  it('fills one worker first, as homing does by default, but spreads where asked (the idle part)', () => {
    expect(loaded(base).worker_balance.new_connections).toBe('fill');
    expect(loaded({ ...base, balance: 'spread' }).worker_balance.new_connections).toBe('spread');
  });

  it("gives all of a node's processes one session-ticket key", () => {
    expect(loaded({ ...base, workers: 2 }).tls?.session_ticket_keys).toBe(ticketKeys);
  });

  it('has the four IMAP and POP3 listeners and the MX on the ports given', () => {
    const listeners = loaded(base).listeners.map((l) => `${l.protocol} ${l.listen} ${l.tls}`);
    expect(listeners).toEqual([
      'imap 127.0.0.1:10143 none',
      'imap 127.0.0.1:10993 implicit',
      'pop3 127.0.0.1:10110 none',
      'pop3 127.0.0.1:10995 implicit',
      'smtp 127.0.0.1:10025 none',
    ]);
  });
});
