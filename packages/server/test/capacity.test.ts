import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readDescriptorLimit, sessionCapacity } from '../src/capacity.js';

const run = promisify(execFile);

describe('sessionCapacity', () => {
  it('is two descriptors a session after the reserve', () => {
    expect(sessionCapacity({ soft: 20_000, hard: 20_000 }, 256, 0)).toEqual({
      derived: 9872,
      sessions: 9872,
    });
  });

  it('is capped by max_sessions, never raised by it', () => {
    expect(sessionCapacity({ soft: 1256, hard: 1256 }, 256, 100).sessions).toBe(100);
    expect(sessionCapacity({ soft: 1256, hard: 1256 }, 256, 5000).sessions).toBe(500);
  });

  it('is unbounded when the limit is not known, unless max_sessions says otherwise', () => {
    expect(sessionCapacity(undefined, 256, 0).sessions).toBe(Number.POSITIVE_INFINITY);
    expect(sessionCapacity(undefined, 256, 300).sessions).toBe(300);
  });
});

describe('raiseDescriptorLimit', () => {
  it('raises a soft limit lowered under the hard one back to it', async () => {
    // Node raises the soft limit itself at start; lowered afterwards, only prlimit helps.
    const module = new URL('../dist/capacity.js', import.meta.url).pathname;
    const script = `const m = await import(${JSON.stringify(module)});
process.stdin.once('data', () => { console.log(JSON.stringify(m.raiseDescriptorLimit())); process.exit(0); });
console.log('ready');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 10));
    const hard = readDescriptorLimit()?.hard as number;
    await run('prlimit', ['--pid', String(child.pid), '--nofile=100:']);
    child.stdin.write('go\n');
    await new Promise((resolve) => child.once('exit', resolve));
    const raised = JSON.parse(out.split('\n')[1] as string) as { soft: number; hard: number };
    expect(raised.soft).toBe(raised.hard);
    expect(raised.hard).toBe(hard);
    expect(raised.soft).toBeGreaterThan(100);
  });
});
