import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@homing/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { flipFile } from '../src/move/flip.js';

const dir = tempDir('move-flip');
afterAll(() => dir.remove());

describe('flipFile', () => {
  it('changes only the home of that user, keeps the comments, leaves no temp file', () => {
    const path = join(dir.path, 'users.yaml');
    writeFileSync(
      path,
      `# the users of example.com
users:
  alice@example.com:
    home: mbox-a # moved in 2024
    aliases: [a@example.com]
  bob@example.com: { home: mbox-a }
`,
    );
    flipFile(path, 'alice@example.com', 'mbox-b');
    expect(readFileSync(path, 'utf8')).toBe(`# the users of example.com
users:
  alice@example.com:
    home: mbox-b # moved in 2024
    aliases: [ a@example.com ]
  bob@example.com: { home: mbox-a }
`);
    expect(readdirSync(dir.path)).toEqual(['users.yaml']);
  });

  it('refuses a user that is not in the file, and a file that does not parse', () => {
    const path = join(dir.path, 'other.yaml');
    writeFileSync(path, 'users:\n  bob@example.com: { home: mbox-a }\n');
    expect(() => flipFile(path, 'alice@example.com', 'mbox-b')).toThrow(/not there/);
    writeFileSync(path, 'users: [\n');
    expect(() => flipFile(path, 'bob@example.com', 'mbox-b')).toThrow();
  });
});
