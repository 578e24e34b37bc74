import type { Server } from 'node:net';
import { loadNative } from './native.js';

/** The native module (native/steer.c, built into dist/steer.node). */
interface SteerModule {
  steer(fd: number, pack: boolean): void;
}

const loaded = loadNative<SteerModule>('steer').module;

/** Whether this process can steer the new connections of its SO_REUSEPORT listeners. */
export function steeringAvailable(): boolean {
  return loaded !== undefined;
}

/**
 * Where the kernel puts the next connections of the SO_REUSEPORT group `server` listens in:
 * `pack`, all on one socket of the group (the first bound that is still open); otherwise spread
 * by the kernel's hash. The setting is the group's: one call from any member's process does it
 * for every worker. False when it cannot be done here (no native module, not listening, or the
 * kernel refused: a seccomp policy, a kernel before 4.5); the group then stays as it was.
 */
export function steerListener(server: Server, pack: boolean): boolean {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (!loaded || fd === undefined || fd < 0) return false;
  try {
    loaded.steer(fd, pack);
    return true;
  } catch {
    return false;
  }
}
