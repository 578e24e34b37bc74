import { setTimeout as sleep } from 'node:timers/promises';
import type { AbuseGuard, LoginGate } from './guard.js';

/**
 * Before a login is looked at: waits the penalty delay the address and user have earned, and
 * says whether they are blocked. A blocked login is answered like a wrong password. Nothing to
 * wait for (the usual case with state in this process) gives the answer without a promise.
 */
export function gateLogin(
  guard: AbuseGuard | undefined,
  address: string,
  user: string | undefined,
): boolean | Promise<boolean> {
  if (!guard) return false;
  const gate = guard.beforeLogin(address, user);
  return gate instanceof Promise ? gate.then(waitOut) : waitOut(gate);
}

function waitOut(gate: LoginGate): boolean | Promise<boolean> {
  if (gate.delayMs > 0) return sleep(gate.delayMs).then(() => gate.blocked);
  return gate.blocked;
}
