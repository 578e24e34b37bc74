import { setTimeout as sleep } from 'node:timers/promises';
import type { AbuseGuard } from './guard.js';

/**
 * Before a login is looked at: waits the penalty delay the address and user have earned, and
 * says whether they are blocked. A blocked login is answered like a wrong password.
 */
export async function gateLogin(
  guard: AbuseGuard | undefined,
  address: string,
  user: string | undefined,
): Promise<boolean> {
  if (!guard) return false;
  const gate = await guard.beforeLogin(address, user);
  if (gate.delayMs > 0) await sleep(gate.delayMs);
  return gate.blocked;
}
