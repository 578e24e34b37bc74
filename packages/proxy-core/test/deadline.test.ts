import { describe, expect, it } from 'vitest';
import { Deadline } from '../src/deadline.js';

describe('Deadline', () => {
  it('aborts its signal when the time is up', async () => {
    const deadline = new Deadline(20);
    await new Promise((r) => setTimeout(r, 40));
    expect(deadline.signal.aborted).toBe(true);
    expect(String(deadline.signal.reason)).toContain('timed out after 20 ms');
  });

  it('never fires once cleared', async () => {
    const deadline = new Deadline(20);
    deadline.clear();
    await new Promise((r) => setTimeout(r, 40));
    expect(deadline.signal.aborted).toBe(false);
  });

  it('run() clears the timer when the work settles, whether it succeeds or fails', async () => {
    let seen: AbortSignal | undefined;
    const result = await Deadline.run(20, async (signal) => {
      seen = signal;
      return 'done';
    });
    expect(result).toBe('done');
    await expect(
      Deadline.run(20, async (signal) => {
        seen = signal;
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    await new Promise((r) => setTimeout(r, 40));
    expect(seen?.aborted).toBe(false);
  });
});
