#!/usr/bin/env node
import { program } from '../dist/cli.js';

await program().parseAsync(process.argv);
// A command has finished (`start` after its drain): nothing left should keep the process alive,
// and a failure must not hang behind a file watcher or a half-open connection.
process.exit(process.exitCode ?? 0);
