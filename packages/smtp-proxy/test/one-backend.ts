import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog, Directory, defaultAddressRules, FileSource } from '@homing/directory';

/**
 * A directory of one user, alice@example.com, whose home `mbox` is a mailbox server of the test's
 * own on loopback (plain SMTP at `port`, no XCLIENT); its file goes into `dir`.
 */
export async function oneBackendDirectory(dir: string, port: number): Promise<Directory> {
  const users = join(dir, 'users.yaml');
  writeFileSync(users, 'users:\n  alice@example.com:\n    home: mbox\n');
  return new Directory({
    source: await FileSource.open({ path: users, watch: false, rules: defaultAddressRules }),
    catalog: new Catalog({
      backends: {
        mbox: {
          host: '127.0.0.1',
          endpoints: { smtp: { port, tls: 'none', forward: 'none' } },
          tls: { verify: true },
        },
      },
      literalDefaults: {},
      literalTls: { verify: true },
      allowLiteral: false,
    }),
    rules: defaultAddressRules,
    cache: { maxEntries: 10, ttlMs: 1000, negativeTtlMs: 0, staleIfErrorMs: 0 },
  });
}
