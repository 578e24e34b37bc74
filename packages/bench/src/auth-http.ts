/**
 * nginx's mail auth_http service for the bench, run as its own process so that its CPU is read
 * apart from nginx's. It looks the user up in the same LDAP as homing, through @homing/directory
 * with its cache, built from homing's own config file as homing builds it (LDAP source, catalog,
 * cache settings), and answers with the home backend's address and port. The password is left
 * to Dovecot, as homing leaves it: nginx logs in there with it. nginx hands Dovecot the
 * client's address with a PROXY header, which Dovecot takes on listeners of their own: the
 * answer names the one for the backend's port. Arguments: homing's config file, the port to
 * listen on (127.0.0.1), and JSON of the backend ports and their PROXY listeners' ports.
 */
import { createServer } from 'node:http';
import { Catalog, Directory, LdapSource } from '@homing/directory';
import { loadConfig } from '@homing/server';

const [configFile, portText, proxyPortsText] = process.argv.slice(2);
const proxyPorts = JSON.parse(proxyPortsText ?? '{}') as Record<string, number>;
const { config } = loadConfig(configFile ?? '');
const ldap = config.directory.ldap;
if (!ldap) throw new Error('auth-http: the config has no directory.ldap');
const a = config.directory.addresses;
const rules = {
  defaultDomain: a.default_domain,
  localPartFolding: a.local_part_folding,
  detailSeparator: a.detail_separator,
  domainAliases: a.domain_aliases,
  maxLength: a.max_length,
};
const { cache } = config.directory;
const directory = new Directory({
  source: new LdapSource({
    urls: ldap.urls,
    bindDn: ldap.bind_dn,
    bindPassword: ldap.bind_password,
    startTls: ldap.starttls,
    tls: { verify: ldap.tls.verify, caFile: ldap.tls.ca_file, servername: ldap.tls.servername },
    timeoutMs: ldap.timeout,
    connectTimeoutMs: ldap.connect_timeout,
    baseDn: ldap.base_dn,
    scope: ldap.scope,
    filter: ldap.filter,
    loginAttributes: ldap.login_attributes,
    homeAttribute: ldap.home_attribute,
    extraAttributes: ldap.extra_attributes,
  }),
  catalog: new Catalog({
    backends: Object.fromEntries(
      Object.entries(config.backends).map(([name, b]) => [
        name,
        {
          host: b.host,
          endpoints: { ...(b.imap ? { imap: b.imap } : {}), ...(b.pop3 ? { pop3: b.pop3 } : {}) },
          tls: { verify: b.tls.verify },
        },
      ]),
    ),
    literalDefaults: {},
    literalTls: { verify: true },
    allowLiteral: false,
  }),
  rules,
  cache: {
    maxEntries: cache.max_entries,
    ttlMs: cache.ttl,
    negativeTtlMs: cache.negative_ttl,
    staleIfErrorMs: cache.stale_if_error,
    sourceRetryMs: cache.source_retry,
  },
});

/** nginx sends the login URL-escaped (ngx_mail_auth_http_module). */
function header(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const server = createServer((request, response) => {
  const user = header(request.headers['auth-user']);
  const protocol = header(request.headers['auth-protocol']);
  const refuse = (why: string) => {
    response.writeHead(200, { 'Auth-Status': why, 'Auth-Wait': '2' });
    response.end();
  };
  if (protocol !== 'imap' && protocol !== 'pop3') {
    refuse('Unsupported protocol');
    return;
  }
  directory.lookup(user).then(
    ({ route }) => {
      const endpoint = route?.backend.endpoints[protocol];
      if (!route || !endpoint) {
        refuse('Invalid login or password');
        return;
      }
      // nginx wants an address here, not a name; the bench's backends are 127.0.0.1.
      response.writeHead(200, {
        'Auth-Status': 'OK',
        'Auth-Server': route.backend.host,
        'Auth-Port': String(proxyPorts[endpoint.port] ?? endpoint.port),
      });
      response.end();
    },
    () => {
      response.writeHead(200, {
        'Auth-Status': 'Temporary server problem, try again later',
        'Auth-Wait': '1',
      });
      response.end();
    },
  );
});
server.listen(Number(portText), '127.0.0.1', () => console.log('auth_http ready'));
