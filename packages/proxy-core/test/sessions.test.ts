import { describe, expect, it } from 'vitest';
import { type SessionEntry, type SessionInfo, SessionRegistry } from '../src/sessions.js';

let started = 0;

function entry(id: string, user?: string, kicked: string[] = []): SessionEntry {
  started += 1000;
  const info: SessionInfo = {
    id,
    protocol: 'imap',
    client: '192.0.2.1',
    since: new Date(started),
    user,
  };
  return { info, kick: (reason) => kicked.push(`${id}:${reason}`) };
}

describe('SessionRegistry', () => {
  it('puts a session in the place of the entry its id had, and lists each once', () => {
    const registry = new SessionRegistry();
    const before = entry('a');
    registry.put(before);
    registry.put(entry('b'));
    // Logged in: the same session, now with its user (a spliced session keeps its start).
    registry.put({ ...before, info: { ...before.info, user: 'alice@example.com' } });
    expect(registry.size).toBe(2);
    expect(registry.list().map((s) => [s.id, s.user])).toEqual([
      ['a', 'alice@example.com'],
      ['b', undefined],
    ]);
    expect(registry.list({ user: 'alice@example.com' }).map((s) => s.id)).toEqual(['a']);
  });

  it('lets go of a removed session at once and gives its place to the next', () => {
    const registry = new SessionRegistry();
    const kicked: string[] = [];
    registry.put(entry('a', 'alice@example.com', kicked));
    registry.put(entry('b', 'bob@example.com', kicked));
    registry.remove('a');
    registry.remove('a');
    registry.remove('never-there');
    expect(registry.size).toBe(1);
    expect(registry.list().map((s) => s.id)).toEqual(['b']);
    expect(registry.kick('alice@example.com')).toBe(0);
    registry.put(entry('c', 'alice@example.com', kicked));
    // c takes a's place, and is still listed after b, which came before it.
    expect(registry.list().map((s) => s.id)).toEqual(['b', 'c']);
    expect(registry.kick('alice@example.com')).toBe(1);
    expect(kicked).toEqual(['c:kicked']);
  });

  it('kicks every session even when each kick removes its own entry', () => {
    const registry = new SessionRegistry();
    const kicked: string[] = [];
    for (const id of ['a', 'b', 'c']) {
      registry.put({
        info: { id, protocol: 'pop3', client: '192.0.2.1', since: new Date(0) },
        kick: (reason) => {
          kicked.push(`${id}:${reason}`);
          registry.remove(id);
        },
      });
    }
    registry.kickAll('shutdown');
    expect(kicked).toEqual(['a:shutdown', 'b:shutdown', 'c:shutdown']);
    expect(registry.size).toBe(0);
    expect(registry.list()).toEqual([]);
  });
});
