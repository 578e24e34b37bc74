import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

describe('the demo (the README main job)', () => {
  it('runs its tour through a real homing process and passes', { timeout: 90_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/demo.ts', '--once'],
      { cwd: root, timeout: 80_000 },
    );
    expect(stdout).toContain('ok   alice reads "You are on backend A"');
    expect(stdout).toContain('ok   bob reads "You are on backend B"');
    expect(stdout).toContain('ok   bob retrieves "You are on backend B"');
    expect(stdout).toContain('ok   bob reads it over IMAP from B: "Hello bob, via homing"');
    expect(stdout).toContain('ok   bob uploads a vacation script with sieve-connect; it is on B');
    expect(stdout).not.toContain('FAIL');
  });
});
