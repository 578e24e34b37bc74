import { describe, expect, it } from 'vitest';
import { preauthCapabilities } from '../src/capabilities.js';

describe('pre-login capabilities', () => {
  it('offers STARTTLS and LOGINDISABLED on a plain connection', () => {
    const caps = preauthCapabilities({
      secure: false,
      canStartTls: true,
      allowPlaintext: false,
      oauth: false,
    });
    expect(caps.split(' ')).toEqual([
      'IMAP4rev1',
      'SASL-IR',
      'LITERAL+',
      'ID',
      'STARTTLS',
      'LOGINDISABLED',
    ]);
  });

  it('offers AUTH=PLAIN once secure, and OAuth mechanisms when enabled', () => {
    const caps = preauthCapabilities({
      secure: true,
      canStartTls: false,
      allowPlaintext: false,
      oauth: true,
    });
    expect(caps).toContain('AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER');
    expect(caps).not.toContain('STARTTLS');
    expect(caps).not.toContain('LOGINDISABLED');
  });
});
