import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { checkConfig } from './commands/check-config.js';
import { lookup } from './commands/lookup.js';
import { backends, flush, kick, reload, sessions } from './commands/manage.js';
import { move } from './commands/move.js';
import { start } from './commands/start.js';

const defaultConfig = process.env.HOMING_CONFIG ?? '/etc/homing/homing.yaml';
const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as {
  version: string;
};

function configOption() {
  return new Option('-c, --config <file>', 'config file (env HOMING_CONFIG)').default(
    defaultConfig,
  );
}

function adminOption() {
  return new Option(
    '-a, --admin <host:port>',
    "the node's admin API (env HOMING_ADMIN); default: admin.listen of the config",
  );
}

const adminHelp =
  "\nThe token comes from HOMING_ADMIN_TOKEN, else from the config's admin section; nothing else of the config is read.";

type AdminOpts = { config: string; admin?: string };

export function program(): Command {
  const cli = new Command('homing')
    .description(
      'mail proxy tier: routes IMAP, POP3, ManageSieve and SMTP users to their home mailbox server',
    )
    .version(version);

  cli
    .command('start')
    .description('run a homing node until SIGTERM')
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      process.exitCode = await start(opts.config);
    });

  cli
    .command('check-config')
    .description(
      'check the config file and the files it names for what start would fail on; each problem is printed with its key and line',
    )
    .addOption(configOption())
    .option('--effective', 'print the config with every default filled in, secrets masked', false)
    .action(async (opts: { config: string; effective: boolean }) => {
      process.exitCode = await checkConfig(opts.config, { effective: opts.effective });
    });

  cli
    .command('lookup')
    .description("show a user's route: login, home backend, and where the answer came from")
    .argument('<address>', 'login or address to look up')
    .addOption(configOption())
    .addOption(
      new Option('-k, --kind <kind>', 'login (IMAP/POP3/ManageSieve) or recipient (strips +detail)')
        .choices(['login', 'recipient'])
        .default('login'),
    )
    .option('--node', "ask the running node's admin API (shows its cache)", false)
    .addOption(adminOption())
    .option('--json', 'print JSON', false)
    .addHelpText('after', `\nExit status: 0 found, 2 no such user, 1 could not tell.${adminHelp}`)
    .action(
      async (
        address: string,
        opts: AdminOpts & { kind: 'login' | 'recipient'; node: boolean; json: boolean },
      ) => {
        process.exitCode = await lookup(address, opts);
      },
    );

  cli
    .command('kick')
    .description('close every session of a user on the running node (its admin API)')
    .argument('<user>', 'the login as shown by `homing sessions`')
    .addOption(configOption())
    .addOption(adminOption())
    .addHelpText('after', adminHelp)
    .action(async (user: string, opts: AdminOpts) => {
      process.exitCode = await kick(user, opts);
    });

  cli
    .command('flush')
    .description("forget an address, or everything, in the running node's directory cache")
    .argument('[address]', 'login or address; all when absent')
    .addOption(configOption())
    .addOption(adminOption())
    .addHelpText('after', adminHelp)
    .action(async (address: string | undefined, opts: AdminOpts) => {
      process.exitCode = await flush(address, opts);
    });

  cli
    .command('sessions')
    .description("list the running node's live sessions")
    .addOption(configOption())
    .option('-u, --user <user>', 'only this user')
    .option('-b, --backend <name>', 'only this backend')
    .option('--json', 'print JSON', false)
    .addOption(adminOption())
    .addHelpText('after', adminHelp)
    .action(async (opts: AdminOpts & { user?: string; backend?: string; json: boolean }) => {
      process.exitCode = await sessions(opts, opts);
    });

  cli
    .command('backends')
    .description("the running node's view of the backends: probes, backoff, pools")
    .addOption(configOption())
    .addOption(adminOption())
    .option('--json', 'print JSON', false)
    .addHelpText('after', adminHelp)
    .action(async (opts: AdminOpts & { json: boolean }) => {
      process.exitCode = await backends(opts.json, opts);
    });

  cli
    .command('reload')
    .description('make the running node read its config and certificates again (as SIGHUP does)')
    .addOption(configOption())
    .addOption(adminOption())
    .addHelpText('after', `\nExit status: 0 applied, 1 refused (the node logs why).${adminHelp}`)
    .action(async (opts: AdminOpts) => {
      process.exitCode = await reload(opts);
    });

  cli
    .command('move')
    .description(
      'move a user to another mailbox server: copy, freeze pool-wide, final copy, verify, flip the home in the directory, flush every node, thaw',
    )
    .argument('<user>', 'login or address of the user')
    .option('-t, --to <backend>', 'the new home: a key of backends')
    .addOption(configOption())
    .addOption(adminOption())
    .option('--dry-run', 'show what would be copied; change nothing', false)
    .option('--resume', 'finish a recorded move that was interrupted', false)
    .option('--abort', 'undo a recorded move that has not flipped: thaw, forget it', false)
    .option('--delete-source', 'after the move, delete the old copy (asked on a terminal)', false)
    .option('-y, --yes', 'answer yes to --delete-source without a terminal', false)
    .option(
      '--bind-dn <dn>',
      'LDAP DN that may write the home attribute (password in HOMING_BIND_PASSWORD); default: move.ldap_bind_dn, else directory.ldap.bind_dn',
    )
    .option('--json', 'print the outcome as JSON', false)
    .addHelpText(
      'after',
      `
Exit status: 0 moved (or --dry-run/--abort done), 1 nothing started (arguments, config, directory),
2 no such user, 3 stopped before the flip (user on the old home, thawed, nothing lost),
4 verification found differences (stopped before the flip, as 3), 5 flipped but clean-up failed
(run --resume), 6 a move of this user is recorded already (--resume or --abort).
The whole config is read (directory, backends with their master credentials, move); freeze,
kick and flush go through the admin API of --admin (or HOMING_ADMIN, or admin.listen), with
the token of HOMING_ADMIN_TOKEN or admin.token. See docs/move.md.`,
    )
    .action(
      async (
        user: string,
        opts: AdminOpts & {
          to?: string;
          dryRun: boolean;
          resume: boolean;
          abort: boolean;
          deleteSource: boolean;
          yes: boolean;
          bindDn?: string;
          json: boolean;
        },
      ) => {
        process.exitCode = await move(user, opts);
      },
    );

  return cli;
}
