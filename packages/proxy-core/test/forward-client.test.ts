import { describe, expect, it } from 'vitest';
import { forwardClient, type XclientFields } from '../src/forward-client.js';
import type { LoginClient } from '../src/login-path.js';

function connection(warnings: unknown[][]): LoginClient {
  return {
    id: 'sid1',
    client: { address: '192.0.2.7', port: 50_000 },
    log: { warn: (...args: unknown[]) => warnings.push(args) },
  } as unknown as LoginClient;
}

describe('forwardClient', () => {
  it("sends the client's address, port and session when the backend offers XCLIENT", async () => {
    const warnings: unknown[][] = [];
    const sent: XclientFields[] = [];
    await forwardClient(connection(warnings), true, async (fields) => {
      sent.push(fields);
      return undefined;
    });
    expect(sent).toEqual([{ ADDR: '192.0.2.7', PORT: 50_000, SESSION: 'sid1' }]);
    expect(warnings).toEqual([]);
  });

  it('sends nothing and warns when the backend does not offer it', async () => {
    const warnings: unknown[][] = [];
    let sent = false;
    await forwardClient(connection(warnings), false, async () => {
      sent = true;
      return undefined;
    });
    expect(sent).toBe(false);
    expect(warnings).toEqual([['backend does not offer XCLIENT: it sees the proxy as the client']]);
  });

  it("warns with the backend's line when it refuses, and goes on", async () => {
    const warnings: unknown[][] = [];
    await forwardClient(connection(warnings), true, async () => '-ERR not trusted');
    expect(warnings).toEqual([[{ reply: '-ERR not trusted' }, 'backend refused XCLIENT']]);
  });
});
