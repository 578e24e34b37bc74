import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, makeCertificates, tempDir } from '@homing/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { homingConfig } from '../src/cluster.js';
import { processCpuMs } from '../src/cpu.js';
import { HomingProcess } from '../src/homing-process.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const dir = tempDir('bench-homing');
afterAll(() => dir.remove());

/** A homing node as the bench starts it, with `workers`; no LDAP or Dovecot behind it. */
async function startHoming(workers: number): Promise<HomingProcess> {
  const [imap, imaps, pop3, pop3s, smtp] = (await freePorts(5)) as number[];
  const certs = makeCertificates(dir.path);
  const ticketKeys = join(dir.path, 'ticket-keys');
  writeFileSync(ticketKeys, randomBytes(48));
  const config = join(dir.path, `homing-${workers}.yaml`);
  writeFileSync(
    config,
    homingConfig({
      ldapUrl: 'ldap://127.0.0.1:9',
      ports: { imap, imaps, pop3, pop3s } as Record<'imap' | 'imaps' | 'pop3' | 'pop3s', number>,
      smtpPort: smtp as number,
      dovecot: { imapPort: 9, pop3Port: 9, lmtpPort: 9 },
      certs,
      ticketKeys,
      workers,
      sources: [],
      balance: 'fill',
      priority: 0,
    }),
  );
  return HomingProcess.start(config, join(dir.path, `homing-${workers}.log`), repoRoot, []);
}

describe('HomingProcess', () => {
  it("counts the CPU time of the primary and of every worker as homing's", async () => {
    const homing = await startHoming(2);
    try {
      const [primary, ...workers] = homing.pids();
      expect(workers).toHaveLength(2);
      const own = processCpuMs(primary as number);
      const each = workers.reduce((sum, pid) => sum + processCpuMs(pid), 0);
      // Each worker has loaded homing and started its listeners: well over a few ticks.
      expect(each).toBeGreaterThan(50);
      // The processes are idle now; /proc counts 10 ms ticks.
      expect(Math.abs(homing.cpuMs() - (own + each))).toBeLessThanOrEqual(30);
      // And apart: the primary, then the workers in the order of their process ids.
      const [first, second] = [...workers].sort((x, y) => x - y) as [number, number];
      const parts = homing.cpuMsByProcess();
      expect(Object.keys(parts)).toEqual(['primary', 'w1', 'w2']);
      expect(Math.abs((parts.primary ?? -1) - own)).toBeLessThanOrEqual(30);
      expect(Math.abs((parts.w1 ?? -1) - processCpuMs(first))).toBeLessThanOrEqual(30);
      expect(Math.abs((parts.w2 ?? -1) - processCpuMs(second))).toBeLessThanOrEqual(30);
    } finally {
      await homing.stop();
    }
  });
});
