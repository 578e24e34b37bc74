import { createInterface } from 'node:readline/promises';
import { pino } from 'pino';
import { buildCatalog, buildDirectory } from '../build-directory.js';
import { loadConfig } from '../config/load.js';
import { writeBind } from '../move/flip.js';
import type { MoveOutcome } from '../move/outcome.js';
import { adminPool } from '../move/pool-control.js';
import { type MoveEvent, type MoveRequest, runMove } from '../move/run.js';
import { adminTarget } from './admin-client.js';
import { reportError } from './errors.js';

export interface MoveFlags extends Omit<MoveRequest, 'user'> {
  readonly config: string;
  readonly admin?: string | undefined;
  readonly json: boolean;
  readonly yes: boolean;
  readonly bindDn?: string | undefined;
}

/** `homing move USER --to BACKEND`: see moveExit for what the exit status says. */
export async function move(user: string, flags: MoveFlags): Promise<number> {
  let directory: Awaited<ReturnType<typeof buildDirectory>> | undefined;
  try {
    const { config } = loadConfig(flags.config);
    directory = await buildDirectory(config, pino({ level: 'error' }));
    const outcome = await runMove(
      {
        user,
        to: flags.to,
        dryRun: flags.dryRun,
        resume: flags.resume,
        abort: flags.abort,
        deleteSource: flags.deleteSource,
      },
      {
        config,
        directory,
        catalog: buildCatalog(config),
        pool: adminPool(adminTarget(flags)),
        bind: writeBind(config, {
          bindDn: flags.bindDn,
          bindPassword: process.env.HOMING_BIND_PASSWORD,
        }),
        timeouts: {
          connectMs: config.limits.backend_connect_timeout,
          socketMs: Math.max(60_000, config.limits.backend_data_timeout),
        },
        report: flags.json ? () => {} : printer(),
        confirmDelete: () => confirm(user, flags.yes),
      },
    );
    process.stdout.write(flags.json ? `${JSON.stringify(outcome, null, 2)}\n` : summary(outcome));
    return outcome.code;
  } catch (error) {
    return reportError(error);
  } finally {
    await directory?.close();
  }
}

/** Phases as lines on stderr; on a terminal, the copy's progress rewritten in place. */
function printer(): (event: MoveEvent) => void {
  const tty = process.stderr.isTTY === true;
  // The rate is of the pass under way: each phase starts the clock again.
  let since = performance.now();
  let progressShown = false;
  const line = (text: string) => {
    if (progressShown) process.stderr.write('\n');
    progressShown = false;
    process.stderr.write(`${text}\n`);
  };
  return (event) => {
    if (event.type === 'phase') {
      since = performance.now();
      // The outcome is printed on stdout.
      if (event.phase !== 'end') line(`${event.phase}: ${event.message}`);
    } else if (event.type === 'warning') line(`warning: ${event.message}`);
    else if (tty) {
      const p = event.progress;
      const seconds = (performance.now() - since) / 1000;
      const rate = seconds > 0 ? p.bytes / seconds / 1e6 : 0;
      process.stderr.write(
        `\r${event.pass}: ${p.mailboxesDone}/${p.mailboxes} mailboxes, ${p.copied} messages, ${(p.bytes / 1e6).toFixed(1)} MB, ${rate.toFixed(1)} MB/s  ${p.mailbox}\x1b[K`,
      );
      progressShown = true;
    }
  };
}

function summary(outcome: MoveOutcome): string {
  const copied = outcome.passes
    .filter((p) => p.name !== 'verify' && p.name !== 'dry-run')
    .reduce((n, p) => n + p.copied, 0);
  const lines = [outcome.message];
  const dry = outcome.passes.find((p) => p.name === 'dry-run');
  for (const m of dry?.mailboxes ?? [])
    lines.push(
      `  ${m.path} → ${m.targetPath}${m.created ? ' (new)' : ''}: ${m.source} here, ${m.target} there; would copy ${m.copy}, set flags on ${m.setFlags}, remove ${m.remove}`,
    );
  if (copied > 0) lines.push(`${copied} message(s) copied`);
  return `${lines.join('\n')}\n`;
}

/** --delete-source: asked on a terminal; elsewhere only with --yes. */
async function confirm(user: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`delete ${user}'s old copy on the old home? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
