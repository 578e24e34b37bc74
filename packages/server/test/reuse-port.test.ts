import { createServer, type ListenOptions } from 'node:net';
import { freePort } from '@homing/testkit';
import { describe, expect, it } from 'vitest';
import { checkPortsFree, nodeHasReusePort, reusePortFor } from '../src/reuse-port.js';

describe('reusePort', () => {
  it('is there from Node 22.12 and 23.1 on', () => {
    expect(nodeHasReusePort('20.20.2')).toBe(false);
    expect(nodeHasReusePort('22.11.0')).toBe(false);
    expect(nodeHasReusePort('22.12.0')).toBe(true);
    expect(nodeHasReusePort('23.0.0')).toBe(false);
    expect(nodeHasReusePort('23.1.0')).toBe(true);
    expect(nodeHasReusePort('26.0.0')).toBe(true);
  });

  it('is for workers on Linux with a fixed port only', () => {
    const supported = nodeHasReusePort();
    expect(reusePortFor(1143, true, 'linux')).toBe(supported);
    expect(reusePortFor(1143, false, 'linux')).toBe(false);
    expect(reusePortFor(0, true, 'linux')).toBe(false);
    expect(reusePortFor(1143, true, 'darwin')).toBe(false);
  });

  it.runIf(reusePortFor(1143, true))(
    'finds a port held by another SO_REUSEPORT socket, which a worker would share',
    async () => {
      const port = await freePort();
      const other = createServer();
      const bind: ListenOptions & { reusePort: boolean } = {
        host: '127.0.0.1',
        port,
        reusePort: true,
      };
      await new Promise<void>((resolve) => other.listen(bind, () => resolve()));
      try {
        await expect(checkPortsFree([{ host: '127.0.0.1', port }])).rejects.toThrow(/EADDRINUSE/);
      } finally {
        other.close();
      }
      await checkPortsFree([{ host: '127.0.0.1', port }]);
    },
  );
});
