export * from './abuse/index.js';
export { Admission } from './admission.js';
export { type BackendTarget, connectBackend } from './backend.js';
export { type Credentials, passwordOf } from './credentials.js';
export { type Cancellation, Deadline } from './deadline.js';
export { atLeast } from './delay.js';
export { EarlyBackend, openEarly } from './early-backend.js';
export {
  type FindHomeOptions,
  findHome,
  HomeQuery,
  type HomeResult,
  type HomeSources,
  type UnavailableReason,
} from './find-home.js';
export { forwardClient, type XclientFields } from './forward-client.js';
export type { ProbeVerdict } from './health.js';
export {
  BackendHealth,
  type BackendState,
  type HealthOptions,
  healthKey,
  parseHealthKey,
} from './health.js';
export { kernelRelayAvailable, useKernelRelay } from './kernel-relay.js';
export { defaultLimits, type Limits } from './limits.js';
export { ConnectionClosedError, LineReader, LineTooLongError } from './line-reader.js';
export {
  type ClientConnection,
  type ListenerSpec,
  type ListenerTls,
  type ListenOptions,
  listen,
  sessionId,
} from './listener.js';
export { type LocalErrorContext, localErrorCode } from './local-errors.js';
export {
  type BackendConversation,
  failedLogin,
  type LoginClient,
  type LoginDialect,
  type LoginPath,
  type LoginResult,
  login,
  plainReplay,
  type Replay,
  type ReplayVerdict,
} from './login-path.js';
export {
  type JournalEvent,
  type LoginOutcome,
  type MessageOutcome,
  noMetrics,
  type ProxyMetrics,
  type RecipientOutcome,
} from './metrics.js';
export {
  loginOnBackend,
  type OpenBackendOptions,
  type OpenBackendResult,
  openBackend,
} from './open-backend.js';
export {
  type AcceptedLogin,
  type LoginAnswers,
  PreloginSession,
  type PreloginTexts,
} from './prelogin-session.js';
export { BackendProbes, type ProbeOptions, type ProbeState, probeDefaults } from './probes.js';
export {
  listenWithRefusals,
  type ProtocolListenerOptions,
  type Refusals,
  type RefusingListenerOptions,
  startProtocolListener,
} from './protocol-listener.js';
export {
  encodeProxyV2,
  type Peer,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  parseProxyHeader,
} from './proxy-protocol.js';
export { failFastRedis, type RedisClientSettings } from './redis-client.js';
export { invalidCommandText, replyTexts } from './reply-texts.js';
export {
  answerSaslResponse,
  decodeBase64,
  decodePlain,
  encodePlain,
  oauthUser,
  type PlainCredentials,
  readSaslResponse,
  type SaslAnswers,
  type SaslMechanism,
  type SaslRefusal,
  type SaslStep,
} from './sasl.js';
export {
  type NamedLine,
  preloginTexts,
  relayedAnswers,
  type SessionReplies,
} from './session-replies.js';
export {
  type SessionEntry,
  type SessionInfo,
  type SessionProtocol,
  SessionRegistry,
} from './sessions.js';
export { SourceAddresses, sourceAddresses } from './source-addresses.js';
export { Splice, type SpliceResult } from './splice.js';
export { SplicedSession, type SplicedSessionSpec } from './spliced-session.js';
export { BackendLines } from './starttls.js';
export { steeringAvailable, steerListener } from './steering.js';
export {
  backendTlsOptions,
  type CertificateSpec,
  certificateNames,
  connectTls,
  ServerTls,
  type TlsVersion,
} from './tls.js';
export { AddressSet } from './trusted.js';
