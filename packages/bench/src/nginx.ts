/**
 * nginx's mail proxy beside homing, in front of the same Dovecot: plaintext and implicit-TLS
 * listeners for IMAP and POP3, the backend chosen per login by the bench's auth_http service
 * (auth-http.ts, its own process, looking users up in the same LDAP). Started from a temp dir
 * in the foreground, without the system's nginx.conf.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianPackages } from '@homing/testkit';
import { portsAccept, ServiceProcess } from './service-process.js';

const mailModule = '/usr/lib/nginx/modules/ngx_mail_module.so';

export interface NginxPorts {
  readonly imap: number;
  readonly imaps: number;
  readonly pop3: number;
  readonly pop3s: number;
}

export interface NginxStart {
  readonly dir: string;
  readonly ports: NginxPorts;
  readonly authPort: number;
  readonly cert: string;
  readonly key: string;
  readonly workers: number;
  /** Program and arguments to start nginx through (taskset), if any. */
  readonly prefix: readonly string[];
}

export function ensureNginx(): void {
  ensureDebianPackages({ nginx: 'nginx', [mailModule]: 'libnginx-mod-mail' });
}

export async function startNginx(options: NginxStart): Promise<ServiceProcess> {
  ensureNginx();
  const config = join(options.dir, 'nginx.conf');
  writeFileSync(config, nginxConf(options));
  const [command, ...args] = [
    ...options.prefix,
    'nginx',
    '-p',
    options.dir,
    '-e',
    join(options.dir, 'error.log'),
    '-c',
    config,
    '-g',
    'daemon off;',
  ];
  return ServiceProcess.start({
    name: 'nginx',
    command: command as string,
    args,
    cwd: options.dir,
    logFile: join(options.dir, 'nginx.out'),
    ready: portsAccept(Object.values(options.ports)),
  });
}

/**
 * Workers as many as the CPUs nginx may use; each takes up to 20000 connections (a proxied
 * session is two). TLS sessions resume from the shared cache (TLS 1.2) or from tickets, whose
 * key the master makes once for all workers. nginx has no IMAP ID or POP3 XCLIENT towards the
 * backend (its xclient is for SMTP only): it hands Dovecot the client's address with a PROXY
 * header (`proxy_protocol`, nginx 1.19.8), on Dovecot's listeners that expect one, as homing
 * hands it over with ID and XCLIENT; without it Dovecot would log, check and penalize nginx's
 * address for every user. Nor does its mail module set TCP_NODELAY on either socket, and no
 * directive asks for it: a short last segment of a reply can wait for the peer's delayed ACK
 * (up to 40 ms on Linux).
 */
function nginxConf(o: NginxStart): string {
  const listen = (port: number, tls: boolean, protocol: string, extra: string[] = []) => [
    '  server {',
    `    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};`,
    `    protocol ${protocol};`,
    ...extra.map((line) => `    ${line}`),
    '  }',
  ];
  return [
    `load_module ${mailModule};`,
    `worker_processes ${o.workers};`,
    'worker_rlimit_nofile 50000;',
    `pid ${join(o.dir, 'nginx.pid')};`,
    `error_log ${join(o.dir, 'error.log')} warn;`,
    'events {',
    '  worker_connections 20000;',
    '}',
    'mail {',
    '  server_name localhost;',
    `  auth_http 127.0.0.1:${o.authPort}/auth;`,
    '  proxy_pass_error_message on;',
    '  proxy_protocol on;',
    `  ssl_certificate ${o.cert};`,
    `  ssl_certificate_key ${o.key};`,
    '  ssl_protocols TLSv1.2 TLSv1.3;',
    '  ssl_session_cache shared:MAIL:10m;',
    '  ssl_session_tickets on;',
    '  imap_auth plain login;',
    '  pop3_auth plain;',
    ...listen(o.ports.imap, false, 'imap'),
    ...listen(o.ports.imaps, true, 'imap'),
    ...listen(o.ports.pop3, false, 'pop3'),
    ...listen(o.ports.pop3s, true, 'pop3'),
    '}',
    '',
  ].join('\n');
}
