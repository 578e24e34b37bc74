import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AddressRules, defaultAddressRules } from '../src/address.js';
import { Catalog } from '../src/catalog.js';
import { Directory } from '../src/directory.js';
import { FileSource, type FileSourceOptions } from '../src/file-source.js';
import { YamlSchemaError } from '../src/yaml-schema.js';

const usersYaml = `# users of the test cluster
users:
  alice@example.com:
    home: mbox-a
    login: alice.smith
    aliases: [al@example.com, Alice.Smith@Example.COM]
    attributes:
      quota: 2G
      groups: [staff, admins]
  bob@example.com:
    home: mbox-b
aliases:
  postmaster@example.com: alice@example.com
  abuse@example.net: bob@example.com
`;

const catalog = new Catalog({
  backends: {
    'mbox-a': { host: '10.0.0.1', endpoints: {}, tls: { verify: true } },
    'mbox-b': { host: '10.0.0.2', endpoints: {}, tls: { verify: true } },
  },
  literalDefaults: {},
  literalTls: { verify: true },
  allowLiteral: false,
});

const rules: AddressRules = { ...defaultAddressRules, localPartFolding: 'lower' };

let dir: string;
let file: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'homing-users-'));
  file = join(dir, 'users.yaml');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function openSource(text: string, options: Partial<FileSourceOptions> = {}) {
  writeFileSync(file, text);
  const source = await FileSource.open({ path: file, watch: false, rules, ...options });
  open.push(source);
  return source;
}

function directoryOf(source: FileSource): Directory {
  return new Directory({
    source,
    catalog,
    rules,
    cache: { maxEntries: 100, ttlMs: 3_600_000, negativeTtlMs: 3_600_000, staleIfErrorMs: 0 },
  });
}

/** Rejection of a promise, for assertions on its fields. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected a rejection');
  return outcome;
}

describe('FileSource lookups', () => {
  it('finds a user by its key, with login and attributes from the file', async () => {
    const directory = directoryOf(await openSource(usersYaml));
    const result = await directory.lookup('alice@example.com');
    expect(result.origin).toBe('file');
    expect(result.route).toMatchObject({
      login: 'alice.smith',
      home: 'mbox-a',
      id: 'alice@example.com',
      attributes: { quota: ['2G'], groups: ['staff', 'admins'] },
    });
    expect(result.route?.backend.host).toBe('10.0.0.1');
    expect((await directory.lookup('alice@example.com')).origin).toBe('cache');
  });

  it('uses the key as login when the file names none', async () => {
    const directory = directoryOf(await openSource(usersYaml));
    const { route } = await directory.lookup('bob@example.com');
    expect(route).toMatchObject({ login: 'bob@example.com', home: 'mbox-b' });
  });

  it.each([
    ['al@example.com', 'alice@example.com'],
    ['alice.smith@example.com', 'alice@example.com'],
    ['postmaster@example.com', 'alice@example.com'],
    ['POSTMASTER@EXAMPLE.COM', 'alice@example.com'],
    ['abuse@example.net', 'bob@example.com'],
  ])('finds %j (an alias) as %j', async (input, id) => {
    const directory = directoryOf(await openSource(usersYaml));
    expect((await directory.lookup(input)).route?.id).toBe(id);
  });

  it('answers undefined for a user not in the file', async () => {
    const directory = directoryOf(await openSource(usersYaml));
    const result = await directory.lookup('carol@example.com');
    expect(result).toMatchObject({ key: 'carol@example.com', route: undefined, origin: 'file' });
  });

  it('loads an empty file as no users', async () => {
    const source = await openSource('');
    expect(source.size).toBe(0);
    expect((await directoryOf(source).lookup('alice@example.com')).route).toBeUndefined();
  });

  it('cannot check passwords', async () => {
    const directory = directoryOf(await openSource(usersYaml));
    expect(directory.canVerifyPasswords).toBe(false);
  });
});

describe('FileSource with a bad file', () => {
  it('names the key and line of a missing home', async () => {
    const text =
      'users:\n  alice@example.com:\n    home: mbox-a\n  bob@example.com:\n    login: bob\n';
    const error = await failureOf(openSource(text));
    expect(error).toBeInstanceOf(YamlSchemaError);
    expect((error as YamlSchemaError).issues).toEqual([
      expect.objectContaining({ key: 'users.bob@example.com.home', line: 4 }),
    ]);
    expect(error.message).toContain(`${file}:4: users.bob@example.com.home`);
  });

  it('names the key and line of a value of the wrong type', async () => {
    const text = 'users:\n  bob@example.com:\n    home: mbox-b\n    aliases: bob@example.com\n';
    const error = await failureOf(openSource(text));
    expect(error).toBeInstanceOf(YamlSchemaError);
    expect(error.message).toContain(`${file}:4: users.bob@example.com.aliases`);
  });

  it('names an unknown key and its own line', async () => {
    const text = 'users:\n  bob@example.com:\n    home: mbox-b\n    hmoe: mbox-a\n';
    const error = await failureOf(openSource(text));
    expect(error).toBeInstanceOf(YamlSchemaError);
    expect((error as YamlSchemaError).issues).toEqual([
      expect.objectContaining({ key: 'users.bob@example.com.hmoe', line: 4 }),
    ]);
    expect(error.message).toMatch(/:4: users\.bob@example\.com\.hmoe: unknown key/);
  });

  it('names the line of a YAML syntax error', async () => {
    const error = await failureOf(openSource('users:\n  bob@example.com:\n    home: [mbox-b\n'));
    expect(error).toBeInstanceOf(YamlSchemaError);
    expect((error as YamlSchemaError).issues[0]?.line).toBeGreaterThanOrEqual(3);
    expect(error.message).toContain(file);
  });

  it('refuses an alias of a user that is not in the file', async () => {
    const text =
      'users:\n  bob@example.com: { home: mbox-b }\naliases:\n  x@example.com: y@example.com\n';
    const error = await failureOf(openSource(text));
    expect(error.message).toContain('aliases.x@example.com');
    expect(error.message).toContain('y@example.com');
  });

  it('refuses a key that is not an address', async () => {
    const error = await failureOf(openSource('users:\n  "a\\u0001b": { home: mbox-b }\n'));
    expect(error.message).toContain('is not a valid address');
  });

  it('says which file it cannot read', async () => {
    const error = await failureOf(
      FileSource.open({ path: join(dir, 'missing.yaml'), watch: false, rules }),
    );
    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(error.message).toContain('missing.yaml');
  });
});

describe('FileSource watching its file', () => {
  const changed = usersYaml
    .replace('home: mbox-a', 'home: mbox-b')
    .replace(
      '  bob@example.com:\n    home: mbox-b\n',
      '  bob@example.com:\n    home: mbox-b\n  carol@example.com:\n    home: mbox-a\n',
    );

  async function watched() {
    const reloads: number[] = [];
    const reloadErrors: unknown[] = [];
    const source = await openSource(usersYaml, {
      watch: true,
      onReload: (users) => reloads.push(users),
      onReloadError: (error) => reloadErrors.push(error),
    });
    const directory = directoryOf(source);
    // Fill the cache, with a found and a "no such user" answer that the change must replace.
    expect((await directory.lookup('alice@example.com')).route?.home).toBe('mbox-a');
    expect((await directory.lookup('carol@example.com')).route).toBeUndefined();
    expect(directory.cacheSize).toBe(2);
    return { source, directory, reloads, reloadErrors };
  }

  async function expectChangeSeen(w: Awaited<ReturnType<typeof watched>>, reloadErrors = 0) {
    // The first reload was the initial load.
    await vi.waitFor(() => expect(w.reloads.length).toBe(2), { timeout: 1000, interval: 10 });
    expect(w.directory.cacheSize).toBe(0);
    const alice = await w.directory.lookup('alice@example.com');
    expect(alice).toMatchObject({ origin: 'file' });
    expect(alice.route?.home).toBe('mbox-b');
    expect((await w.directory.lookup('carol@example.com')).route?.home).toBe('mbox-a');
    expect(w.source.size).toBe(w.reloads[1]);
    expect(w.reloadErrors.length).toBe(reloadErrors);
  }

  it('sees a rewritten file within a second and clears the cache', async () => {
    const w = await watched();
    writeFileSync(file, changed);
    await expectChangeSeen(w);
  });

  it('sees a file replaced by rename, and keeps watching the new file', async () => {
    const w = await watched();
    const temp = join(dir, '.users.yaml.tmp');
    writeFileSync(temp, changed);
    renameSync(temp, file);
    await expectChangeSeen(w);

    // The file now is another inode: changes to it must be seen too.
    writeFileSync(file, changed.replace('home: mbox-b\n    login', 'home: mbox-a\n    login'));
    await vi.waitFor(() => expect(w.reloads.length).toBe(3), { timeout: 1000, interval: 10 });
    expect((await w.directory.lookup('alice@example.com')).route?.home).toBe('mbox-a');
  });

  it('ignores other files in the directory', async () => {
    const w = await watched();
    writeFileSync(join(dir, 'other.yaml'), 'users: {}\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(w.reloads.length).toBe(1);
    expect(w.directory.cacheSize).toBe(2);
  });

  it('keeps the old users when a rewrite is broken, and reports it', async () => {
    const w = await watched();
    writeFileSync(file, 'users:\n  alice@example.com:\n    hmoe: mbox-b\n');
    await vi.waitFor(() => expect(w.reloadErrors.length).toBe(1), { timeout: 1000, interval: 10 });
    expect(w.reloadErrors[0]).toBeInstanceOf(YamlSchemaError);
    expect(String(w.reloadErrors[0])).toContain('users.alice@example.com.hmoe');
    expect(w.reloads.length).toBe(1);
    w.directory.clear();
    expect((await w.directory.lookup('alice@example.com')).route?.home).toBe('mbox-a');
    expect((await w.directory.lookup('al@example.com')).route?.id).toBe('alice@example.com');

    // A good file after the broken one is taken up again.
    writeFileSync(file, changed);
    await expectChangeSeen(w, 1);
  });
});
