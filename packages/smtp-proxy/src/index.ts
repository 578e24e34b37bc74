export { SmtpBackend, type SmtpBackendOptions } from './backend.js';
export { BackendPool, type BackendPoolOptions, defaultBackendPool } from './backend-pool.js';
export { DotStuffer } from './dot-stuff.js';
export { ReceivedCounter, receivedHeader } from './headers.js';
export { Fingerprint, FingerprintReader } from './journal/fingerprint.js';
export type { DeliveryJournal } from './journal/journal.js';
export { MemoryJournal, type MemoryJournalOptions } from './journal/memory-journal.js';
export { RedisJournal, type RedisJournalOptions } from './journal/redis-journal.js';
export { extensions, ReplyCollector, type SmtpReply } from './reply.js';
export { type MixedPolicy, Router, type RouterOptions } from './router.js';
export { type SmtpKind, type SmtpListenerOptions, startSmtpListener } from './server.js';
export { replyError, SmtpError } from './smtp-replies.js';
export {
  type SmarthostOptions,
  Submission,
  type SubmissionMode,
  type SubmissionOptions,
} from './submission.js';
export { xtext } from './xtext.js';
