import { describe, expect, it } from 'vitest';
import { BackendHealth, healthKey, parseHealthKey } from '../src/health.js';
import { AddressSet } from '../src/trusted.js';

describe('healthKey', () => {
  it('names one backend service and splits back into its parts', () => {
    expect(healthKey('mail-a', 'imap')).toBe('mail-a/imap');
    expect(parseHealthKey(healthKey('mail-a', 'submission'))).toEqual({
      backend: 'mail-a',
      protocol: 'submission',
    });
    expect(parseHealthKey('mail-a')).toEqual({ backend: 'mail-a', protocol: '' });
  });
});

describe('BackendHealth', () => {
  it('skips a failed backend for a backoff that doubles up to a maximum', () => {
    const clock = { now: 0 };
    const health = new BackendHealth({
      backoffMinMs: 100,
      backoffMaxMs: 350,
      now: () => clock.now,
    });
    expect(health.isDown('a/imap')).toBe(false);
    const windows: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      health.failure('a/imap', 'refused');
      const start = clock.now;
      while (health.isDown('a/imap')) clock.now += 1;
      windows.push(clock.now - start);
    }
    expect(windows).toEqual([100, 200, 350, 350]);
  });

  it('forgets failures on success and keeps backends apart', () => {
    const clock = { now: 0 };
    const health = new BackendHealth({
      backoffMinMs: 100,
      backoffMaxMs: 1000,
      now: () => clock.now,
    });
    health.failure('a/imap', 'refused');
    expect(health.isDown('b/imap')).toBe(false);
    expect(health.snapshot()).toEqual([
      { key: 'a/imap', up: false, failures: 1, retryInMs: 100, lastError: 'refused' },
    ]);
    health.success('a/imap');
    expect(health.isDown('a/imap')).toBe(false);
    expect(health.snapshot()).toEqual([]);
  });
});

describe('AddressSet', () => {
  const set = new AddressSet(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);

  it.each([
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['2001:db8::1', true],
    ['2001:db9::1', false],
    ['127.0.0.1', false],
  ])('%s → %s', (address, expected) => {
    expect(set.has(address)).toBe(expected);
  });

  it('trusts nobody when empty', () => {
    expect(new AddressSet([]).has('127.0.0.1')).toBe(false);
  });

  it.each(['10.0.0', 'example.com', '10.0.0.0/x'])('refuses %j', (entry) => {
    expect(() => new AddressSet([entry])).toThrow();
  });
});
