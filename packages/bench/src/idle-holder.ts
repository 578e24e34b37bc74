/**
 * A process of the bench that holds idle IMAP sessions for it, since one process may open no
 * more files than its descriptor limit: forked by idle.ts, it is told over IPC what to open
 * (HoldOrder), answers with what it opened (HoldResult), and holds the sessions until it is
 * told to let them go or its parent leaves.
 */
import type { BenchUser } from './cluster.js';
import { type ImapClient, logIn } from './imap-client.js';

export interface HoldOrder {
  readonly port: number;
  /** This process's own loopback address, each a whole range of source ports; or the kernel's. */
  readonly localAddress: string | undefined;
  readonly users: readonly BenchUser[];
  /** Where in `users` to start, so that the holders share the users evenly. */
  readonly firstUser: number;
  readonly count: number;
  readonly batch: number;
  /** Busy greetings in a row after which a session is given up and no more are opened. */
  readonly busyTries: number;
}

export interface HoldResult {
  readonly opened: number;
  readonly busy: number;
  readonly stopped: string | undefined;
  /** The first failure other than a busy greeting; nothing more was opened after it. */
  readonly error: string | undefined;
}

const held: ImapClient[] = [];

/** LOGOUTs at a time when the sessions are let go politely. */
const logoutBatch = 500;
const logoutTimeoutMs = 30_000;

process.on('message', (message: HoldOrder | 'release' | 'logout') => {
  if (message === 'release') {
    for (const client of held.splice(0)) client.destroy();
    process.exit(0);
  } else if (message === 'logout') {
    void logOutAll().finally(() => process.exit(0));
  } else {
    void hold(message).then((result) => process.send?.(result));
  }
});
process.on('disconnect', () => process.exit(0));
// Orders sent before the handler above was in place would be lost: the parent waits for this.
process.send?.('ready');

async function hold(order: HoldOrder): Promise<HoldResult> {
  const endpoint = { port: order.port, localAddress: order.localAddress };
  let busy = 0;
  let stopped: string | undefined;
  const logInUntilIn = async (user: BenchUser): Promise<ImapClient | undefined> => {
    for (let tries = 1; ; tries++) {
      try {
        return await logIn(endpoint, user);
      } catch (error) {
        if (!isBusy(error)) throw error;
        busy += 1;
        if (tries >= order.busyTries) {
          stopped = `${order.busyTries} busy greetings in a row for one session`;
          return undefined;
        }
      }
    }
  };
  const { users, firstUser, count, batch } = order;
  for (let first = 0; first < count && !stopped; first += batch) {
    const size = Math.min(batch, count - first);
    const logins = Array.from({ length: size }, (_, i) =>
      logInUntilIn(users[(firstUser + first + i) % users.length] as BenchUser),
    );
    const settled = await Promise.allSettled(logins);
    for (const result of settled) {
      if (result.status === 'fulfilled' && result.value) held.push(result.value);
    }
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const error = `idle session ${held.length + 1} could not log in: ${String(failed.reason)}`;
      return { opened: held.length, busy, stopped, error };
    }
  }
  return { opened: held.length, busy, stopped, error: undefined };
}

/**
 * LOGOUT on every session: the server closes first, so the TIME_WAIT that follows is on its
 * side and the ports this process bound are free at once.
 */
async function logOutAll(): Promise<void> {
  while (held.length > 0) {
    const some = held.splice(0, logoutBatch);
    await Promise.allSettled(some.map((client) => client.logout(logoutTimeoutMs)));
  }
}

/** homing's busy reply at the greeting (RFC 5530 UNAVAILABLE), as logIn reports it. */
function isBusy(error: unknown): boolean {
  return error instanceof Error && /^greeting .*\* BYE \[UNAVAILABLE\]/.test(error.message);
}
