export { BackendClient, type BackendClientOptions } from './backend-client.js';
export { DotStuffer } from './dot-stuff.js';
export { ReceivedCounter, receivedHeader } from './headers.js';
export { extensions, ReplyCollector, replyError, SmtpError, type SmtpReply } from './reply.js';
export { type MixedPolicy, Router, type RouterOptions } from './router.js';
export { type SmtpKind, type SmtpListenerOptions, startSmtpListener } from './server.js';
export {
  type SmarthostOptions,
  Submission,
  type SubmissionMode,
  type SubmissionOptions,
} from './submission.js';
export { xtext } from './xtext.js';
