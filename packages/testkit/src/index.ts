export {
  type Certificates,
  issueServerCertificate,
  makeCertificates,
  type ServerCertificate,
} from './certs.js';
export { Dovecot, type DovecotOptions, type DovecotUser } from './dovecot.js';
export { freePort, freePorts, waitForPort } from './ports.js';
export { Postfix, type PostfixOptions } from './postfix.js';
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
export { ensureDebianPackages, hasProgram } from './system.js';
export { tempDir } from './tmp.js';
