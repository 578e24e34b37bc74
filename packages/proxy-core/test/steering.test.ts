import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { steeringAvailable, steerListener } from '../src/steering.js';

function listening(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('steerListener', () => {
  it('is built on Linux (npm run build compiles native/steer.c)', () => {
    expect(steeringAvailable()).toBe(process.platform === 'linux');
  });

  it('says false for a server that is not listening', () => {
    expect(steerListener(createServer(), true)).toBe(false);
  });

  it('says false where the kernel refuses: a socket in no SO_REUSEPORT group', async () => {
    const server = await listening(createServer());
    try {
      expect(steerListener(server, true)).toBe(false);
      expect(steerListener(server, false)).toBe(false);
    } finally {
      server.close();
    }
  });
});
