import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { proxyWorkers } from '../src/placement.js';
import { homingProcesses } from '../src/report.js';
import { comparedSides, loginSides, roundTurns } from '../src/turns.js';

describe('the sides of the rows', () => {
  it('put homing with one process and the pipe with as many beside a homing with workers', () => {
    expect(loginSides(2, true)).toEqual(['direct', 'nginx', 'homing', 'homing/1', 'pipe', 'pipes']);
    expect(loginSides(2, false)).toEqual(['direct', 'nginx', 'homing', 'homing/1', 'pipe']);
    expect(loginSides(1, true)).toEqual(['direct', 'nginx', 'homing', 'pipe']);
    expect(comparedSides).not.toContain('homing/1');
    expect(comparedSides).not.toContain('pipes');
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
