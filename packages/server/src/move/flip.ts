import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Route } from '@homing/directory';
import { Attribute, Change, Client, ResultCodeError } from 'ldapts';
import { isMap, parseDocument } from 'yaml';
import type { Config } from '../config/schema.js';

/** The DN and password of the bind that may write the home attribute. */
export interface WriteBind {
  readonly dn: string;
  readonly password: string;
}

/** Why this directory cannot flip a home, or undefined when it can (checked before any copy). */
export function flipUnsupported(config: Config, bind: WriteBind | undefined): string | undefined {
  const { directory } = config;
  if (directory.source === 'sql')
    return "a SQL directory cannot be flipped by homing move yet: the home comes from the operator's own query, and homing does not know which row and column to write";
  if (directory.source === 'ldap' && !bind)
    return 'no LDAP bind that may write: set move.ldap_bind_dn and move.ldap_bind_password, or directory.ldap.bind_dn, or give --bind-dn';
  return undefined;
}

/** The write bind: the command line's, else move's, else the directory's search bind. */
export function writeBind(
  config: Config,
  flags: { bindDn?: string | undefined; bindPassword?: string | undefined },
): WriteBind | undefined {
  const ldap = config.directory.ldap;
  const dn = flags.bindDn ?? config.move.ldap_bind_dn ?? ldap?.bind_dn;
  const password =
    flags.bindDn !== undefined
      ? flags.bindPassword
      : config.move.ldap_bind_dn !== undefined
        ? config.move.ldap_bind_password
        : ldap?.bind_password;
  return dn === undefined || password === undefined ? undefined : { dn, password };
}

/** Makes the directory name `to` as the user's home: one LDAP modify, or one file rename. */
export async function flipHome(
  config: Config,
  route: Route,
  to: string,
  bind: WriteBind | undefined,
): Promise<void> {
  const { directory } = config;
  if (directory.source === 'file' && directory.file)
    return flipFile(directory.file.path, route.id, to);
  if (directory.source === 'ldap' && directory.ldap && bind)
    return flipLdap(directory.ldap, route.id, to, bind);
  throw new Error(flipUnsupported(config, bind) ?? 'this directory cannot be flipped');
}

/**
 * A rewrite of the users file that keeps its comments and layout, written beside it and renamed
 * over it: a node that reloads the file sees the old one or the new one, never half of it.
 */
export function flipFile(path: string, key: string, to: string): void {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
  const entry = doc.getIn(['users', key]);
  if (!isMap(entry)) throw new Error(`${path}: users.${key} is not there`);
  entry.set('home', to);
  const temp = `${path}.homing-move.${process.pid}`;
  writeFileSync(temp, doc.toString());
  renameSync(temp, path);
}

async function flipLdap(
  ldap: NonNullable<Config['directory']['ldap']>,
  dn: string,
  to: string,
  bind: WriteBind,
): Promise<void> {
  const tls: ConnectionOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: ldap.tls.verify,
    ...(ldap.tls.ca_file ? { ca: readFileSync(ldap.tls.ca_file) } : {}),
    ...(ldap.tls.servername ? { servername: ldap.tls.servername } : {}),
  };
  let last: unknown;
  for (const url of ldap.urls) {
    const client = new Client({
      url,
      timeout: ldap.timeout,
      connectTimeout: ldap.connect_timeout,
      ...(url.toLowerCase().startsWith('ldaps:') ? { tlsOptions: tls } : {}),
      strictDN: false,
    });
    try {
      if (ldap.starttls) await client.startTLS(tls);
      await client.bind(bind.dn, bind.password);
      await client.modify(
        dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: ldap.home_attribute, values: [to] }),
        }),
      );
      return;
    } catch (error) {
      last = error;
      // The server answered (refused): another server of the same directory would too.
      if (error instanceof ResultCodeError) break;
    } finally {
      await client.unbind().catch(() => {});
    }
  }
  throw new Error(
    `LDAP modify of ${dn} failed: ${last instanceof Error ? last.message : String(last)}`,
  );
}
