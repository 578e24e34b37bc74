export { freePort, waitForPort } from './ports.js';
export { Daemon } from './process.js';
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
