import { Catalog, Directory, defaultAddressRules, LdapSource } from '@homing/directory';

/** A directory whose LDAP cannot be reached: for listeners whose tests never look anyone up. */
export function unreachableDirectory(): Directory {
  return new Directory({
    source: new LdapSource({
      urls: ['ldap://127.0.0.1:1'],
      bindDn: 'cn=nobody',
      bindPassword: 'x',
      startTls: false,
      tls: { verify: true },
      timeoutMs: 100,
      connectTimeoutMs: 100,
      baseDn: 'dc=example,dc=com',
      scope: 'sub',
      filter: '(mail={address})',
      loginAttributes: ['mail'],
      homeAttribute: 'mailHost',
      extraAttributes: [],
    }),
    catalog: new Catalog({
      backends: {},
      literalDefaults: {},
      literalTls: { verify: true },
      allowLiteral: false,
    }),
    rules: defaultAddressRules,
    cache: { maxEntries: 10, ttlMs: 1000, negativeTtlMs: 0, staleIfErrorMs: 0 },
  });
}
