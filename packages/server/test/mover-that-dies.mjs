// A mover that dies: runs `homing move` for one user as the CLI does and SIGKILLs its own
// process at a given point, leaving the move record, its .seen file and any freeze behind.
// Usage: node mover-that-dies.mjs CONFIG USER TO (freeze | copied:N) ADMIN_PORT TOKEN
import { pino } from 'pino';
import { buildCatalog, buildDirectory } from '../dist/build-directory.js';
import { loadConfig } from '../dist/config/load.js';
import { writeBind } from '../dist/move/flip.js';
import { adminPool } from '../dist/move/pool-control.js';
import { runMove } from '../dist/move/run.js';

const [path, user, to, dieAt, adminPort, token] = process.argv.slice(2);
const copiedAt = dieAt.startsWith('copied:') ? Number(dieAt.slice('copied:'.length)) : undefined;
const die = () => process.kill(process.pid, 'SIGKILL');
const { config } = loadConfig(path);
const directory = await buildDirectory(config, pino({ level: 'silent' }));
const outcome = await runMove(
  { user, to },
  {
    config,
    directory,
    catalog: buildCatalog(config),
    pool: adminPool({ listen: `127.0.0.1:${adminPort}`, token }),
    bind: writeBind(config, {}),
    timeouts: { connectMs: 5000, socketMs: 10_000 },
    report: (event) => {
      if (event.type === 'phase' && event.phase === 'freeze' && dieAt === 'freeze') die();
      if (event.type === 'progress' && copiedAt !== undefined && event.progress.copied >= copiedAt)
        die();
    },
  },
);
// Reaching here means the move ended before the point to die at.
process.stdout.write(`${JSON.stringify(outcome)}\n`);
process.exit(1);
