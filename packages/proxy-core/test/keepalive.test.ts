import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { clientKeepAlive } from '../src/keepalive.js';

class Probe extends Duplex {
  readonly calls: [boolean, number | undefined][] = [];
  setKeepAlive(on: boolean, ms?: number): this {
    this.calls.push([on, ms]);
    return this;
  }
}

describe('clientKeepAlive', () => {
  it.each([
    ['has it from the listener already', 300_000, 300_000, []],
    ['has none and wants it', 0, 300_000, [[true, 300_000]]],
    ['has another idle time (a reload changed it)', 300_000, 60_000, [[true, 60_000]]],
    ['has it and wants none', 300_000, 0, [[false, undefined]]],
    ['has none and wants none', 0, 0, []],
  ])('a socket that %s', (_what, inherited, wanted, calls) => {
    const probe = new Probe();
    clientKeepAlive(probe, inherited, wanted);
    expect(probe.calls).toEqual(calls);
  });
});
