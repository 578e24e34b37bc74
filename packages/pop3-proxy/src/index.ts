export { Pop3Backend } from './backend.js';
export { type CapabilityContext, preauthCapabilities, saslMechanisms } from './capabilities.js';
export { type ParsedCommand, parseAuthArgument, parseCommand } from './command.js';
export { Pop3Reader, type ReadEvent } from './reader.js';
export { type Pop3Reply, parseReply } from './reply.js';
export { type Pop3ListenerOptions, startPop3Listener } from './server.js';
export { Pop3Session, type Pop3SessionOptions } from './session.js';
