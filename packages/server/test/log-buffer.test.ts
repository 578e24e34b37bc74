import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BufferedLog } from '../src/log-buffer.js';

function collector() {
  const writes: string[] = [];
  return { writes, stream: { write: (text: string) => void writes.push(text) } };
}

describe('BufferedLog', () => {
  it('gathers info lines into one write after the interval', async () => {
    const { writes, stream } = collector();
    const buffered = new BufferedLog(stream, 30);
    const log = pino({ base: null }, buffered);
    log.info('one');
    log.info('two');
    expect(writes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(writes).toHaveLength(1);
    expect(
      writes[0]
        ?.trim()
        .split('\n')
        .map((l) => JSON.parse(l).msg),
    ).toEqual(['one', 'two']);
    buffered.close();
  });

  it('writes a warning at once, with the lines waiting before it', () => {
    const { writes, stream } = collector();
    const buffered = new BufferedLog(stream, 60_000);
    const log = pino({ base: null }, buffered);
    log.info('before');
    log.warn('trouble');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/"before"[\s\S]*"trouble"/);
    buffered.close();
  });

  it('writes what waits when the process dies of an uncaught error', () => {
    const moduleUrl = new URL('../src/log-buffer.ts', import.meta.url).href;
    const script = `
      import { pino } from 'pino';
      const { BufferedLog } = await import(${JSON.stringify(moduleUrl)});
      const stream = pino.destination({ dest: 1, sync: true });
      const log = pino({ base: null }, new BufferedLog(stream, 60_000));
      log.info('last words');
      setTimeout(() => { throw new Error('boom'); }, 10);
    `;
    let output = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout);
    }
    expect(output).toContain('last words');
  });
});
