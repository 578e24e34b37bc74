// Builds the kernel relay (native/splice.c) into dist/splice.node with the system's C compiler
// and the Node-API headers from npm: Node-API is stable across Node's majors, so one build
// serves every Node homing runs on. Without Linux or a C compiler homing relays spliced
// sessions in Node, and this says so.
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
    `proxy-core: no C compiler (${compiler}): spliced sessions go through Node. ` +
      'Install one (Debian: apt-get install -y gcc) and build again for the kernel relay.',
  );
  process.exit(0);
}
const headers = dirname(
  createRequire(import.meta.url).resolve('node-api-headers/include/node_api.h'),
);
mkdirSync(join(root, 'dist'), { recursive: true });
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
    join(root, 'native/splice.c'),
    '-o',
    join(root, 'dist/splice.node'),
    '-lpthread',
  ],
  { stdio: 'inherit' },
);
