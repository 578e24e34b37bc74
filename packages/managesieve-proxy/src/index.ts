export { SieveBackend } from './backend.js';
export {
  BackendExtensions,
  type CapabilityContext,
  type ProbedCapabilities,
  preauthCapabilities,
  saslMechanisms,
} from './capabilities.js';
export { type ParsedCommand, parseCommand, parseSaslAnswer, quoted } from './command.js';
export { sieveDialect } from './login.js';
export { type ReadEvent, SieveReader } from './reader.js';
export { parseSieveLine, type SieveLine } from './response.js';
export {
  MAX_QUOTED_BYTES,
  type ScanLimits,
  type ScanResult,
  scanCommand,
  type Token,
} from './scan.js';
export { type ManageSieveListenerOptions, startManageSieveListener } from './server.js';
export { SieveSession, type SieveSessionOptions } from './session.js';
