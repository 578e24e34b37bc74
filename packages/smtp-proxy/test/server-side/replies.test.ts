import { describe, expect, it } from 'vitest';
import { replyLine } from '../../src/server-side/replies.js';

describe('replyLine', () => {
  it.each([
    [250, '2.0.0 Ok: queued as 12345', '250 2.0.0 Ok: queued as 12345\r\n'],
    [250, 'Ok', '250 2.0.0 Ok\r\n'],
    [451, '4.4.1 Mailbox server unavailable', '451 4.4.1 Mailbox server unavailable\r\n'],
    [550, 'No such user', '550 5.0.0 No such user\r\n'],
    [354, 'go ahead', '354 go ahead\r\n'],
    // A text that would start another reply or hide in a log becomes one line.
    [550, '5.1.1 a\r\n250 forged', '550 5.1.1 a  250 forged\r\n'],
    [550, 'nul\u0000here', '550 5.0.0 nul here\r\n'],
  ])('%i %j', (code, text, line) => {
    expect(replyLine(code, text)).toBe(line);
  });
});
