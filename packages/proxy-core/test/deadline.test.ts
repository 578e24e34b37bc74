import { describe, expect, it } from 'vitest';
import { type Cancellation, Deadline } from '../src/deadline.js';

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
    let seen: Cancellation | undefined;
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

  it('tells each listener once when the time is up, but not one that left or came late', async () => {
    const deadline = new Deadline(20);
    const heard: string[] = [];
    const left = () => heard.push('left');
    deadline.signal.addEventListener('abort', () => heard.push('first'));
    deadline.signal.addEventListener('abort', left);
    deadline.signal.addEventListener('abort', () => heard.push('second'), { once: true });
    deadline.signal.removeEventListener('abort', left);
    await new Promise((r) => setTimeout(r, 40));
    deadline.signal.addEventListener('abort', () => heard.push('late'));
    deadline.expire();
    expect(heard).toEqual(['first', 'second']);
  });

  it('restart() gives the next step its own time from now, on the same deadline', async () => {
    const deadline = new Deadline(20);
    await new Promise((r) => setTimeout(r, 10));
    deadline.restart(60);
    await new Promise((r) => setTimeout(r, 30));
    expect(deadline.signal.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(deadline.signal.aborted).toBe(true);
    expect(String(deadline.signal.reason)).toContain('timed out after 60 ms');
  });

  it('is watched as an AbortSignal is: a line reader waiting on it gives up when it fires', async () => {
    const { PassThrough } = await import('node:stream');
    const { LineReader } = await import('../src/line-reader.js');
    const reader = new LineReader(new PassThrough(), 100);
    const deadline = new Deadline(20);
    await expect(reader.readLine(deadline.signal)).rejects.toThrow('timed out after 20 ms');
  });
});
