import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { proxyWorkers } from '../src/placement.js';
import { homingProcesses, sideLines } from '../src/report.js';
import { comparedSides, loginSides, roundTurns, transferSides } from '../src/turns.js';

describe('the sides of the rows', () => {
  it('put homing with one process and the pipe with as many beside a homing with workers', () => {
    expect(loginSides(2, true)).toEqual(['direct', 'nginx', 'homing', 'homing/1', 'pipe', 'pipes']);
    expect(loginSides(2, false)).toEqual(['direct', 'nginx', 'homing', 'homing/1', 'pipe']);
    expect(loginSides(1, true)).toEqual(['direct', 'nginx', 'homing', 'pipe']);
    expect(comparedSides).not.toContain('homing/1');
    expect(comparedSides).not.toContain('pipes');
  });

  it('put HAProxy, which reads no login, in the transfer rows only', () => {
    expect(transferSides).toEqual(['direct', 'nginx', 'homing', 'pipe', 'haproxy']);
    for (const workers of [1, 2]) {
      expect(loginSides(workers, true)).not.toContain('haproxy');
      expect(loginSides(workers, false)).not.toContain('haproxy');
    }
    expect(comparedSides).not.toContain('haproxy');
  });

  it('take turns, each side once a round, the order turning and reversing', () => {
    expect(roundTurns(4, ['a', 'b']).join('')).toBe('abbabaab');
    const turns = roundTurns(4, loginSides(2, true));
    for (const side of loginSides(2, true)) expect(turns.filter((s) => s === side)).toHaveLength(4);
  });
});

describe('the worker processes of each proxy', () => {
  it('are one per CPU on shared CPUs and one on the CPU of its own (split)', () => {
    expect(proxyWorkers('shared')).toBe(cpus().length);
    expect(proxyWorkers('split')).toBe(1);
  });

  it('say how many processes homing runs and how its workers accept', () => {
    expect(homingProcesses(1, '24.21.0')).toMatch(/^1 process \(workers: 1/);
    const pool = homingProcesses(2, '24.21.0');
    expect(pool).toMatch(/^3 processes: a primary .* workers: 2 /);
    expect(pool).toContain('SO_REUSEPORT');
    expect(homingProcesses(2, '22.12.0')).toContain('SO_REUSEPORT');
    expect(homingProcesses(2, '22.11.0')).toContain("the primary's socket");
    expect(homingProcesses(2, '20.20.2')).toContain("the primary's socket");
  });
});

describe('the lines of a row', () => {
  it("give each proxy's CPU per operation and the whole machine's for every side", () => {
    const usage = (cpuMs: Record<string, number>, machineMs: number) => ({
      wallMs: 1000,
      cpuMs,
      machineBusy: machineMs / 2000,
      machineMs,
    });
    const lines = sideLines('IMAP logins/s c=50', 'login', ['direct', 'nginx', 'homing'], {
      direct: { rate: 1000, usage: usage({}, 1500), operations: 1000 },
      nginx: { rate: 800, usage: usage({ nginx: 300, auth_http: 200 }, 1840), operations: 800 },
      homing: { rate: 750, usage: usage({ homing: 450 }, 1800), operations: 750 },
    });
    expect(lines[0]).toBe(
      'IMAP logins/s c=50             direct 1000 · nginx 800 (0.80) · homing 750 (0.75)',
    );
    expect(lines).toContain(
      '  proxy CPU ms/login: nginx 0.63 (nginx 0.38 + auth_http 0.25) · homing 0.60; ' +
        'CPUs busy direct 75% · nginx 92% · homing 90%',
    );
    expect(lines).toContain('  machine CPU ms/login: direct 1.50 · nginx 2.30 · homing 2.40');
  });

  it("name a pool's primary and workers without the side's name again", () => {
    const usage = {
      wallMs: 1000,
      cpuMs: { 'homing primary': 5, 'homing w1': 600, 'homing w2': 10 },
      machineBusy: 0.9,
      machineMs: 1800,
    };
    const lines = sideLines('IMAP logins/s c=50', 'login', ['homing'], {
      homing: { rate: 1000, usage, operations: 1000 },
    });
    expect(lines).toContain(
      '  proxy CPU ms/login: homing 0.61 (primary 0.01 + w1 0.60 + w2 0.01); CPUs busy homing 90%',
    );
  });
});
