export {
  type Certificates,
  issueServerCertificate,
  makeCertificates,
  type ServerCertificate,
} from './certs.js';
export { Dovecot, type DovecotOptions, type DovecotUser } from './dovecot.js';
export { MariaDb } from './mariadb.js';
export { freePort, freePorts, waitForPort } from './ports.js';
export { Postfix, type PostfixOptions } from './postfix.js';
export { Postgres } from './postgres.js';
export { Daemon } from './process.js';
export { RawClient, type RawClientOptions } from './raw-client.js';
export { RedisServer } from './redis.js';
export {
  type LdapUser,
  Slapd,
  slapdAdminDn,
  slapdAdminPassword,
  slapdServiceDn,
  slapdServicePassword,
  slapdSuffix,
} from './slapd.js';
export { sqlDatabase, sqlPassword, sqlUser } from './sql-server.js';
export { ensureDebianPackages, hasProgram } from './system.js';
export { tempDir } from './tmp.js';
