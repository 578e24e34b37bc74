/**
 * HAProxy in TCP mode beside homing in the transfer rows: a proxy written in C that moves a
 * session's bytes with splice(2) as homing's kernel relay does, so the FETCH and RETR rows show
 * what any proxy in the path costs on this machine, beside what homing's relay costs. It reads
 * no login (every session goes to the one Dovecot), so it is no side of the login rows. Started
 * from a temp dir in the foreground, without the system's haproxy.cfg.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianPackages } from '@homing/testkit';
import { portsAccept, ServiceProcess } from './service-process.js';

/** Bytes a splice pipe holds: homing's kernel relay uses pipes of this size too. */
export const haproxyPipeBytes = 1024 * 1024;

export interface HaproxyStart {
  readonly dir: string;
  /** Where HAProxy listens (a loopback port) and the Dovecot port it passes each to. */
  readonly routes: readonly { readonly port: number; readonly backendPort: number }[];
  /** Threads, as many as nginx's worker processes. */
  readonly threads: number;
  /** Program and arguments to start HAProxy through (taskset, nice), if any. */
  readonly prefix: readonly string[];
}

export function haproxyVersion(): string {
  const result = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  return /HAProxy version (\S+)/.exec(result.stdout)?.[1]?.split('-')[0] ?? '';
}

export async function startHaproxy(options: HaproxyStart): Promise<ServiceProcess> {
  ensureDebianPackages({ haproxy: 'haproxy' });
  const config = join(options.dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConf(options));
  const [command, ...args] = [...options.prefix, 'haproxy', '-db', '-f', config];
  return ServiceProcess.start({
    name: 'haproxy',
    command: command as string,
    args,
    cwd: options.dir,
    logFile: join(options.dir, 'haproxy.out'),
    ready: portsAccept(options.routes.map((r) => r.port)),
  });
}

/**
 * Splicing asked for both ways (`splice-auto` splices only where HAProxy guesses the transfer
 * is large: FETCH through it took about as much CPU per MB as through the bare Node pipe,
 * which copies), pipes of homing's size; maxconn within the bench's open-files limit (HAProxy
 * refuses to start above it).
 */
export function haproxyConf(o: HaproxyStart): string {
  const lines = [
    'global',
    '  maxconn 4000',
    `  nbthread ${o.threads}`,
    `  tune.pipesize ${haproxyPipeBytes}`,
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  option splice-request',
    '  option splice-response',
  ];
  o.routes.forEach(({ port, backendPort }, i) => {
    lines.push(
      `listen route${i}`,
      `  bind 127.0.0.1:${port}`,
      `  server dovecot 127.0.0.1:${backendPort}`,
    );
  });
  return `${lines.join('\n')}\n`;
}
