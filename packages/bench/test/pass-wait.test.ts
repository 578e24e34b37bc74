import { describe, expect, it } from 'vitest';
import { passWaitLines } from '../src/pass-wait.js';
import { bySide } from '../src/turns.js';

describe('the row of answers to PASS', () => {
  it("gives each side's median with its ratio to direct, then the 10th and 90th percentiles", () => {
    const waits = bySide((): number[] => []);
    waits.direct.push(1, 1, 1.2, 0.8, 1);
    waits.nginx.push(2.5, 2, 3, 2, 2);
    waits.homing.push(1.5, 1.5, 1.4, 1.6, 1.5);
    const lines = passWaitLines(['direct', 'nginx', 'homing', 'pipe'], waits);
    expect(lines[0]).toBe(
      `${'POP3 PASS answered, ms'.padEnd(31)}direct 1.00 · nginx 2.00 (2.00) · homing 1.50 (1.50)`,
    );
    expect(lines[1]).toBe('  p10 ms: direct 0.80 · nginx 2.00 · homing 1.40');
    expect(lines[2]).toBe('  p90 ms: direct 1.00 · nginx 2.50 · homing 1.50');
    expect(lines[3]).toMatch(/PASS sent 3 ms after USER's \+OK.*, 5 logins each side/);
  });
});
