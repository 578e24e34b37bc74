export { preauthCapabilities } from './capabilities.js';
export {
  astring,
  type FrameEvent,
  type ImapCommand,
  ImapFramer,
  parseCommand,
  type Token,
} from './framer.js';
export { type ImapListenerOptions, startImapListener } from './server.js';
export { ImapSession, type ImapSessionOptions } from './session.js';
