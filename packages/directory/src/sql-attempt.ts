import type { SqlConnection, SqlPool, SqlRow } from './sql-driver.js';

/** Why one query at one server failed, and at which step. */
export class SqlAttemptError extends Error {
  override readonly name = 'SqlAttemptError';
  constructor(
    /** connect: no connection was had; query: the query failed on one; timeout; aborted. */
    readonly step: 'connect' | 'query' | 'timeout' | 'aborted',
    /** The server itself answered with an error (bad SQL, no permission). */
    readonly serverError: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const first = error.message.split('\n')[0] || error.constructor.name;
    return code && !first.includes(String(code)) ? `${code} ${first}` : first;
  }
  return String(error);
}

/**
 * Runs one query on a connection from `pool` within `timeoutMs`, counting the wait for a free
 * connection. A connection that timed out or broke is destroyed rather than reused: a late
 * answer on it would be taken for the next query's.
 */
export function runQuery(
  pool: SqlPool,
  text: string,
  values: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SqlRow[]> {
  return new Promise((resolve, reject) => {
    let connection: SqlConnection | undefined;
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
      return true;
    };
    const giveUp = (step: 'timeout' | 'aborted', message: string) => {
      finish(() => {
        connection?.destroy();
        reject(new SqlAttemptError(step, false, message));
      });
    };
    const timer = setTimeout(
      () => giveUp('timeout', `no answer within ${timeoutMs} ms`),
      timeoutMs,
    );
    const onAbort = () => giveUp('aborted', 'lookup aborted');
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    pool.acquire().then(
      (acquired) => {
        if (done) return acquired.release();
        connection = acquired;
        acquired.query(text, values).then(
          (rows) =>
            finish(() => {
              acquired.release();
              resolve(rows);
            }),
          (error: unknown) =>
            finish(() => {
              const serverError = pool.isServerError(error);
              if (serverError) acquired.release();
              else acquired.destroy();
              reject(
                new SqlAttemptError('query', serverError, describeError(error), { cause: error }),
              );
            }),
        );
      },
      (error: unknown) =>
        finish(() => {
          const serverError = pool.isServerError(error);
          reject(
            new SqlAttemptError('connect', serverError, describeError(error), { cause: error }),
          );
        }),
    );
  });
}
