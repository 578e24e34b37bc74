/**
 * What a client may send before it has authenticated, and how long the proxy waits for it
 * and for backends. One place, named; every value is a config setting (`limits:`).
 */
export interface Limits {
  /** Longest command line before login, in bytes. */
  readonly lineBytes: number;
  /** Longest IMAP ID line before login: RFC 2971 allows one of ~32 KB. */
  readonly idLineBytes: number;
  /** Largest literal (IMAP, ManageSieve) before login, in bytes; a larger one is never read. */
  readonly literalBytes: number;
  /** Commands accepted before login; then the connection is closed. */
  readonly commands: number;
  /** Silence allowed before login. */
  readonly idleTimeoutMs: number;
  /** Time a command line may take from its first byte to its end; 0: no such deadline. */
  readonly lineTimeoutMs: number;
  /** Time from connect to a completed login. */
  readonly authTimeoutMs: number;
  /** The least time a failed login takes to be answered, so that failures all look alike. */
  readonly failedLoginDelayMs: number;
  /** One deadline for TCP connect, TLS and greeting of a backend. */
  readonly backendConnectTimeoutMs: number;
  /** Time the backend has to answer the replayed login. */
  readonly backendLoginTimeoutMs: number;
  /**
   * Time a backend has to answer one SMTP command after the login or greeting (MAIL, RCPT,
   * RSET, XCLIENT): the relay's step-by-step dialogue, not the message data.
   */
  readonly backendCommandTimeoutMs: number;
  /** Time a backend has to take a message's data and answer it (SMTP DATA). */
  readonly backendDataTimeoutMs: number;
  /** Time a directory lookup may take before the login is answered as unavailable. */
  readonly directoryTimeoutMs: number;
  /** Time a PROXY protocol header may take to arrive. */
  readonly proxyHeaderTimeoutMs: number;
  /** Idle time before TCP keepalive probes on both sockets of a spliced session; 0: off. */
  readonly tcpKeepaliveMs: number;
}

export const defaultLimits: Limits = {
  lineBytes: 8192,
  idLineBytes: 65_536,
  literalBytes: 16_384,
  commands: 100,
  idleTimeoutMs: 60_000,
  lineTimeoutMs: 30_000,
  authTimeoutMs: 120_000,
  failedLoginDelayMs: 2000,
  backendConnectTimeoutMs: 5000,
  backendLoginTimeoutMs: 15_000,
  backendCommandTimeoutMs: 15_000,
  backendDataTimeoutMs: 60_000,
  directoryTimeoutMs: 5000,
  proxyHeaderTimeoutMs: 5000,
  tcpKeepaliveMs: 300_000,
};
