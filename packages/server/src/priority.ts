import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The ids of this process's threads (Linux); elsewhere 0, the process itself. */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [0];
  }
}

/**
 * Gives every thread of this process the nice value `value`. Linux keeps a nice value per
 * thread, and a thread or process started later takes its starter's: V8's threads started with
 * the process are set here, the kernel relay's thread and a pool's workers inherit it. Returns
 * why the system refused (a value below the current one needs CAP_SYS_NICE), else undefined.
 */
export function applyPriority(
  value: number,
  set: (id: number, value: number) => void = setPriority,
  threads: () => number[] = threadIds,
): string | undefined {
  try {
    for (const id of threads()) set(id, value);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
