// Builds the kernel relay (native/splice.c) into dist/splice.node, and the steering of a worker
// pool's new connections (native/steer.c) into dist/steer.node, with the system's C compiler
// and the Node-API headers from npm: Node-API is stable across Node's majors, so one build
// serves every Node homing runs on. Without Linux or a C compiler homing relays spliced
// sessions in Node and a worker pool spreads new connections by the kernel's hash, and this says
// so.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiler = process.env.CC ?? 'cc';

if (process.platform !== 'linux') {
  console.log(
    `proxy-core: no kernel relay on ${process.platform}: spliced sessions go through Node`,
  );
  process.exit(0);
}
try {
  execFileSync(compiler, ['--version'], { stdio: 'ignore' });
} catch {
  console.warn(
    `proxy-core: no C compiler (${compiler}): spliced sessions go through Node, and a pool's ` +
      'new connections are spread over its workers. Install one (Debian: apt-get install -y ' +
      'gcc) and build again for the kernel relay and worker_balance fill.',
  );
  process.exit(0);
}
const headers = dirname(
  createRequire(import.meta.url).resolve('node-api-headers/include/node_api.h'),
);
mkdirSync(join(root, 'dist'), { recursive: true });
// The relay, and the steering of a worker pool's new connections (native/steer.c).
for (const name of ['splice', 'steer']) {
  execFileSync(
    compiler,
    [
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-shared',
      '-fPIC',
      '-fvisibility=hidden',
      `-I${headers}`,
      join(root, `native/${name}.c`),
      '-o',
      join(root, `dist/${name}.node`),
      '-lpthread',
    ],
    { stdio: 'inherit' },
  );
}
