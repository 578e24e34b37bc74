import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const scenario = fileURLToPath(new URL('./port-exhaustion.ts', import.meta.url));
/** Ports in the namespace's narrowed net.ipv4.ip_local_port_range. */
const ports = 100;
/** Probes (every second) draw on the same ports; a few may be in use or in TIME_WAIT. */
const probeSlack = 3;

function unshareAllowed(): boolean {
  try {
    execFileSync('unshare', ['-n', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const allowed = unshareAllowed();
if (!allowed) {
  console.error(
    '\n*** SKIPPED: port-exhaustion.int.test.ts needs `unshare -n` (root, or CAP_SYS_ADMIN) ' +
      'for a network namespace of its own; the source-port exhaustion of backend connections ' +
      'is NOT tested on this machine ***\n',
  );
}

interface Outcome {
  readonly held: number;
  readonly refusal: string;
  readonly afterOneLeft: string;
  readonly backendUp: string[];
  readonly localErrors: string[];
  readonly backendDown: boolean;
  readonly outOfResources: boolean;
}

/** port-exhaustion.ts in a network namespace of its own, homing with these source addresses. */
async function exhaust(sources: string[]): Promise<Outcome> {
  const { stdout } = await run(
    'unshare',
    [
      '-n',
      'sh',
      '-c',
      'ip link set lo up && exec "$@"',
      'sh',
      process.execPath,
      '--import',
      'tsx',
      scenario,
      ...sources,
    ],
    { env: { ...process.env, PORTS: String(ports) }, maxBuffer: 16 << 20 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no RESULT line from the scenario:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as Outcome;
}

/** Out of source ports, the client hears "try again later" and the backend stays up. */
function expectLocalRefusal(outcome: Outcome, code: string): void {
  expect(outcome.refusal).toMatch(/^a NO \[UNAVAILABLE\] /);
  expect(outcome.backendUp).toEqual(['homing_backend_up{backend="mbox-a",protocol="imap"} 1']);
  expect(outcome.localErrors).toContainEqual(
    expect.stringMatching(
      new RegExp(`^homing_local_errors_total\\{code="${code}",context="backend_connect"\\} [1-9]`),
    ),
  );
  expect(outcome.localErrors).toContainEqual(
    expect.stringMatching(new RegExp(`code="${code}",context="probe"\\} [1-9]`)),
  );
  expect(outcome.outOfResources).toBe(true);
  expect(outcome.backendDown).toBe(false);
}

describe.skipIf(!allowed)('backend connections out of source ports (network namespace)', () => {
  it('refuse the login with the temporary reply, count a local error and keep the backend up', async () => {
    const outcome = await exhaust([]);
    expect(outcome.held).toBeGreaterThanOrEqual(ports - probeSlack);
    expect(outcome.held).toBeLessThanOrEqual(ports);
    expectLocalRefusal(outcome, 'EADDRNOTAVAIL');
    // A second after a session left, its port is taken again (TIME_WAIT reused on loopback).
    expect(outcome.afterOneLeft).toMatch(/^a OK /);
  }, 60_000);

  it('hold twice the sessions with two source addresses', async () => {
    const one = await exhaust(['127.0.0.2']);
    const two = await exhaust(['127.0.0.2', '127.0.0.3']);
    expect(one.held).toBeGreaterThanOrEqual(ports - probeSlack);
    expect(one.held).toBeLessThanOrEqual(ports);
    expect(two.held).toBeGreaterThanOrEqual(2 * one.held - probeSlack);
    expect(two.held).toBeLessThanOrEqual(2 * ports);
    // A source address with no port left fails the bind: the next one is tried, then none.
    expectLocalRefusal(one, 'EADDRINUSE');
    expectLocalRefusal(two, 'EADDRINUSE');
  }, 60_000);
});
