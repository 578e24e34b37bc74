#!/usr/bin/env node
import { program } from '../dist/cli.js';

await program().parseAsync(process.argv);
