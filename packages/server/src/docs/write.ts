import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from './markdown.js';

// Run from the repository root: `npm run docs`.
const target = new URL('../../../../docs/configuration.md', import.meta.url);
writeFileSync(target, renderConfigDocs());
process.stdout.write(`wrote ${target.pathname}\n`);
