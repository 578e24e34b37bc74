/**
 * Why a lookup could not be answered. Every one of these is temporary from a client's point
 * of view: a proxy turns them into IMAP `NO [UNAVAILABLE]`, POP3 `-ERR [SYS/TEMP]` or SMTP 4xx,
 * never into "no such user".
 */
export type DirectoryErrorCode =
  | 'UNAVAILABLE' // the source could not be reached (all LDAP servers down, file unreadable)
  | 'TIMEOUT' // the source did not answer within the per-query timeout
  | 'AMBIGUOUS' // more than one entry matched: a data problem the operator must fix
  | 'BAD_ROUTE' // the entry names a backend that is neither in the catalog nor host[:port]
  | 'ABORTED'; // the caller gave up (its abort signal fired)

export class DirectoryError extends Error {
  override readonly name = 'DirectoryError';
  constructor(
    readonly code: DirectoryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function abortError(signal: AbortSignal): DirectoryError {
  return new DirectoryError('ABORTED', 'lookup aborted', { cause: signal.reason });
}
