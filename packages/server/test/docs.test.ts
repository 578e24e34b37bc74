import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../src/docs/markdown.js';

describe('docs/configuration.md', () => {
  it('is what the schema generates (run `npm run docs` after changing the schema)', () => {
    const committed = readFileSync(
      new URL('../../../docs/configuration.md', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(renderConfigDocs());
  });

  it('describes every key', () => {
    const rows = renderConfigDocs()
      .split('\n')
      .filter((line) => line.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(40);
    for (const row of rows) expect(row, row).toMatch(/\S \|$/);
    expect(rows.some((row) => row.startsWith('| `backends.<name>.host` (required)'))).toBe(true);
  });
});
