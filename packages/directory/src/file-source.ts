import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { type Address, type AddressRules, normalizeAddress } from './address.js';
import { DirectoryError } from './errors.js';
import type { SourceEntry, UserSource } from './source.js';
import { parseYaml } from './yaml-schema.js';

const userSchema = z.strictObject({
  home: z.string().min(1).describe('catalog backend name or host[:port]'),
  login: z.string().min(1).optional().describe('login presented to the backend; default: the key'),
  aliases: z.array(z.string().min(1)).default([]),
  attributes: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
});

export const usersFileSchema = z.strictObject({
  users: z.record(z.string().min(1), userSchema).default({}),
  aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
});

export interface FileSourceOptions {
  readonly path: string;
  /** Reload the file when it changes on disk. */
  readonly watch: boolean;
  readonly rules: AddressRules;
  /** Told when a changed file could not be loaded; the previous users stay in force. */
  readonly onReloadError?: (error: unknown) => void;
  readonly onReload?: (users: number) => void;
}

/**
 * Users from a YAML file: the "generate files from a central database and distribute them"
 * approach. The whole file is held in memory and swapped atomically on reload.
 */
export class FileSource implements UserSource {
  readonly kind = 'file';
  readonly #options: FileSourceOptions;
  #users = new Map<string, SourceEntry>();
  #listeners: (() => void)[] = [];
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #text = '';

  private constructor(options: FileSourceOptions) {
    this.#options = options;
  }

  /** Loads the file; rejects with a YamlSchemaError naming the key and line of each problem. */
  static async open(options: FileSourceOptions): Promise<FileSource> {
    const source = new FileSource(options);
    await source.reload();
    if (options.watch) source.#watch();
    return source;
  }

  get size(): number {
    return this.#users.size;
  }

  async find(address: Address): Promise<SourceEntry | undefined> {
    return this.#users.get(address.key);
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the file; on failure the users loaded before stay in force. */
  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#options.path, 'utf8');
    } catch (error) {
      throw new DirectoryError(
        'UNAVAILABLE',
        `cannot read users file ${this.#options.path}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    if (text === this.#text) return;
    this.#users = buildIndex(parseYaml(text, usersFileSchema, this.#options.path), this.#options);
    this.#text = text;
    this.#options.onReload?.(this.#users.size);
    for (const listener of this.#listeners) listener();
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    clearTimeout(this.#timer);
  }

  #watch(): void {
    // Watch the directory, not the file: editors and deploy tools replace files by rename.
    const name = basename(this.#options.path);
    this.#watcher = watch(dirname(this.#options.path), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.reload().catch((error: unknown) => this.#options.onReloadError?.(error));
      }, 50);
    });
  }
}

function buildIndex(data: z.output<typeof usersFileSchema>, options: FileSourceOptions) {
  const index = new Map<string, SourceEntry>();
  const keyOf = (address: string, where: string) => {
    const key = normalizeAddress(address, options.rules, 'login')?.key;
    if (key === undefined)
      throw new Error(`${options.path}: ${where}: "${address}" is not a valid address`);
    return key;
  };
  for (const [name, user] of Object.entries(data.users)) {
    const attributes = Object.fromEntries(
      Object.entries(user.attributes).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
    );
    const entry: SourceEntry = { id: name, login: user.login ?? name, home: user.home, attributes };
    for (const address of [name, ...user.aliases])
      index.set(keyOf(address, `users.${name}`), entry);
  }
  for (const [alias, target] of Object.entries(data.aliases)) {
    const entry = index.get(keyOf(target, `aliases.${alias}`));
    if (!entry)
      throw new Error(`${options.path}: aliases.${alias}: "${target}" is not a user in this file`);
    index.set(keyOf(alias, `aliases.${alias}`), entry);
  }
  return index;
}
