import type { LocalErrorContext } from './local-errors.js';
import type { SessionProtocol } from './sessions.js';

export type LoginOutcome = 'ok' | 'failed' | 'unavailable';
export type RecipientOutcome = 'accepted' | 'unknown' | 'refused' | 'deferred';
export type MessageOutcome = 'accepted' | 'refused' | 'deferred';
/**
 * The MX's delivery journal: `skipped` a recipient left out of a retry (delivered before),
 * `recorded` one written down as delivered while its message is to be retried, `fallback` a
 * recipient on another backend refused with 452 because the journal could not be asked,
 * `error` a failed lookup or write.
 */
export type JournalEvent = 'skipped' | 'recorded' | 'fallback' | 'error';

/**
 * What the protocol proxies report as they work; the server turns it into Prometheus metrics.
 * Every method is cheap and synchronous: it runs on the hot path.
 */
export interface ProxyMetrics {
  login(protocol: SessionProtocol, outcome: LoginOutcome): void;
  /** One backend connection attempt: TCP + TLS + greeting. */
  backendConnect(backend: string, protocol: SessionProtocol, seconds: number, ok: boolean): void;
  /** Bytes of one spliced session, when it ends. */
  spliced(protocol: SessionProtocol, up: number, down: number): void;
  smtpRecipient(protocol: SessionProtocol, outcome: RecipientOutcome): void;
  smtpMessage(protocol: SessionProtocol, outcome: MessageOutcome): void;
  /** This node ran out of a resource (EMFILE, EADDRNOTAVAIL...): no backend's fault. */
  localError(code: string, context: LocalErrorContext): void;
  smtpJournal(event: JournalEvent, count: number): void;
}

export const noMetrics: ProxyMetrics = {
  login: () => {},
  backendConnect: () => {},
  spliced: () => {},
  smtpRecipient: () => {},
  smtpMessage: () => {},
  localError: () => {},
  smtpJournal: () => {},
};
