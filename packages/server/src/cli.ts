import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { checkConfig } from './commands/check-config.js';
import { lookup } from './commands/lookup.js';
import { flush, kick, sessions } from './commands/manage.js';
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

export function program(): Command {
  const cli = new Command('homing')
    .description('mail proxy tier: routes IMAP, POP3 and SMTP users to their home mailbox server')
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
      new Option('-k, --kind <kind>', 'login (IMAP/POP3) or recipient (strips +detail)')
        .choices(['login', 'recipient'])
        .default('login'),
    )
    .option('--node', "ask the running node's admin API (shows its cache)", false)
    .option('--json', 'print JSON', false)
    .addHelpText('after', '\nExit status: 0 found, 2 no such user, 1 could not tell.')
    .action(
      async (
        address: string,
        opts: { config: string; kind: 'login' | 'recipient'; node: boolean; json: boolean },
      ) => {
        process.exitCode = await lookup(address, opts);
      },
    );

  cli
    .command('kick')
    .description('close every session of a user on the running node (its admin API)')
    .argument('<user>', 'the login as shown by `homing sessions`')
    .addOption(configOption())
    .action(async (user: string, opts: { config: string }) => {
      process.exitCode = await kick(user, opts.config);
    });

  cli
    .command('flush')
    .description("forget an address, or everything, in the running node's directory cache")
    .argument('[address]', 'login or address; all when absent')
    .addOption(configOption())
    .action(async (address: string | undefined, opts: { config: string }) => {
      process.exitCode = await flush(address, opts.config);
    });

  cli
    .command('sessions')
    .description("list the running node's live sessions")
    .addOption(configOption())
    .option('-u, --user <user>', 'only this user')
    .option('-b, --backend <name>', 'only this backend')
    .option('--json', 'print JSON', false)
    .action(async (opts: { config: string; user?: string; backend?: string; json: boolean }) => {
      process.exitCode = await sessions(opts, opts.config);
    });

  return cli;
}
