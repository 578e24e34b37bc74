export { preauthCapabilities } from './capabilities.js';
export {
  astring,
  type ImapCommand,
  ImapReader,
  parseCommand,
  type ReadEvent,
  type Token,
} from './reader.js';
export { type ImapListenerOptions, startImapListener } from './server.js';
export { ImapSession, type ImapSessionOptions } from './session.js';
