import { describe, expect, it } from 'vitest';
import { preloginTexts, relayedAnswers, type SessionReplies } from '../src/session-replies.js';

const replies: SessionReplies = {
  idle: { line: 'BYE idle' },
  authTimeout: { line: 'BYE slow' },
  kicked: { line: 'BYE kicked' },
  shutdown: { line: 'BYE shutdown' },
  internalError: { line: 'BYE internal' },
  authFailed: { line: 'NO failed' },
  unavailable: { line: 'NO later' },
  tooManySessions: { line: 'NO too many' },
};

describe('the replies every protocol names alike', () => {
  it("give the session's moments in the protocol's words, formatted as it writes them", () => {
    expect(preloginTexts(replies)).toEqual({
      idle: 'BYE idle',
      authTimeout: 'BYE slow',
      kicked: 'BYE kicked',
      shutdown: 'BYE shutdown',
      internalError: 'BYE internal',
    });
    expect(preloginTexts(replies, (r) => `* ${r.line}`).idle).toBe('* BYE idle');
  });

  it("answer the login path's failures, and pass the backend's own line on as it came", async () => {
    const answers = relayedAnswers(replies);
    expect([answers.failed, answers.unavailable, answers.limit]).toEqual([
      'NO failed',
      'NO later',
      'NO too many',
    ]);
    const reply = { raw: Buffer.from('-ERR [IN-USE] locked') };
    expect(answers.refused?.(reply).toString()).toBe('-ERR [IN-USE] locked\r\n');
    const session = { detach: () => Buffer.from('pipelined') };
    const welcome = await answers.welcome(session, { raw: Buffer.from('+OK hi') });
    expect(Buffer.concat(welcome).toString()).toBe('+OK hi\r\npipelined');
  });
});
