/**
 * Errors that say this node ran out of something (descriptors, memory, buffers, source ports),
 * not that a backend failed. A backend must never be marked down for them: on a node short of
 * descriptors every backend would look dead at once, and its users be sent nowhere.
 */
const LOCAL_CODES: ReadonlySet<string> = new Set([
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'ENOMEM',
  'EADDRNOTAVAIL',
  'EADDRINUSE',
]);

/** The error's code when it is one of this node's own resource errors (its cause's included). */
export function localErrorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && LOCAL_CODES.has(code)) return code;
  }
  return undefined;
}

/** Where a local error struck: a connect for a login or delivery, or a health probe. */
export type LocalErrorContext = 'backend_connect' | 'probe';
