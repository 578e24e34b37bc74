import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { haproxyConf, haproxyPipeBytes } from '../src/haproxy.js';

/** The bytes a pipe of homing's kernel relay holds, as native/splice.c sets them. */
function relayPipeBytes(): number {
  const source = readFileSync(new URL('../../proxy-core/native/splice.c', import.meta.url), 'utf8');
  const factors = /static const int pipeBytes = ([\d *]+);/.exec(source)?.[1];
  if (factors === undefined) throw new Error('no pipeBytes in splice.c');
  return factors.split('*').reduce((product, n) => product * Number(n.trim()), 1);
}

describe("HAProxy's config", () => {
  const conf = haproxyConf({
    dir: '/tmp/x',
    routes: [
      { port: 40001, backendPort: 30001 },
      { port: 40002, backendPort: 30002 },
    ],
    threads: 2,
    prefix: [],
  });

  it('splices both ways through pipes the size of the kernel relay', () => {
    expect(conf).toContain('  option splice-request\n  option splice-response\n');
    expect(conf).not.toContain('splice-auto');
    expect(conf).toContain(`  tune.pipesize ${haproxyPipeBytes}\n`);
    expect(haproxyPipeBytes).toBe(relayPipeBytes());
    expect(conf).toContain('  mode tcp\n');
    expect(conf).toContain('  nbthread 2\n');
  });

  it('passes each port to its own Dovecot port', () => {
    expect(conf).toContain(
      'listen route0\n  bind 127.0.0.1:40001\n  server dovecot 127.0.0.1:30001\n' +
        'listen route1\n  bind 127.0.0.1:40002\n  server dovecot 127.0.0.1:30002\n',
    );
  });
});
