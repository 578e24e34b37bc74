import type { Endpoint, Route } from '@homing/directory';
import { describe, expect, it } from 'vitest';
import { EarlyBackend } from '../src/early-backend.js';

function conversation(readyState = 'open') {
  const socket = {
    destroyed: false,
    readyState,
    destroy() {
      this.destroyed = true;
    },
  };
  return { socket } as unknown as { socket: typeof socket & import('node:net').Socket };
}

const route = { backend: { name: 'mbox-a' } } as Route;
const endpoint = { port: 110 } as Endpoint;

describe('EarlyBackend', () => {
  it('gives its connection to a login of the same user at the same backend and port', async () => {
    const session = conversation();
    const early = new EarlyBackend('frank', 'mbox-a', 110, Promise.resolve(session));
    expect(await early.take('frank', route, endpoint)).toBe(session);
    early.drop(); // what the login does when it is over: a no-op once taken
    expect(session.socket.destroyed).toBe(false);
  });

  it.each([
    ['another user', 'erin', route, endpoint],
    ['another backend', 'frank', { backend: { name: 'mbox-b' } } as Route, endpoint],
    ['another port', 'frank', route, { port: 995 } as Endpoint],
  ])('closes it and gives nothing for %s', async (_, user, r, e) => {
    const session = conversation();
    const early = new EarlyBackend('frank', 'mbox-a', 110, Promise.resolve(session));
    await Promise.resolve(); // opened
    expect(await early.take(user, r, e)).toBeUndefined();
    expect(session.socket.destroyed).toBe(true);
  });

  it('gives nothing when it failed to open or the backend has closed it since', async () => {
    const failed = new EarlyBackend<ReturnType<typeof conversation>>(
      'frank',
      'mbox-a',
      110,
      Promise.resolve(undefined),
    );
    expect(await failed.take('frank', route, endpoint)).toBeUndefined();
    const closed = conversation('writeOnly');
    const early = new EarlyBackend('frank', 'mbox-a', 110, Promise.resolve(closed));
    expect(await early.take('frank', route, endpoint)).toBeUndefined();
    expect(closed.socket.destroyed).toBe(true);
  });

  it('closes a connection dropped before it was ready once it is', async () => {
    const session = conversation();
    let open: (s: typeof session) => void = () => {};
    const early = new EarlyBackend(
      'frank',
      'mbox-a',
      110,
      new Promise<typeof session>((resolve) => {
        open = resolve;
      }),
    );
    early.drop();
    open(session);
    await Promise.resolve();
    await Promise.resolve();
    expect(session.socket.destroyed).toBe(true);
    expect(await early.take('frank', route, endpoint)).toBeUndefined();
  });
});
