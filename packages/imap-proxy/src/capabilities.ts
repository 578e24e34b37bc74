export interface CapabilityContext {
  /** The connection is TLS (implicit, or after STARTTLS). */
  readonly secure: boolean;
  /** STARTTLS is possible on this connection now. */
  readonly canStartTls: boolean;
  /** Plaintext logins are allowed without TLS on this listener. */
  readonly allowPlaintext: boolean;
  /** XOAUTH2 and OAUTHBEARER are passed through to backends. */
  readonly oauth: boolean;
}

/**
 * Pre-login capabilities: only what this proxy itself implements before the login
 * (RFC 9051 §7.2.2). The backend's own list is given to the client after login.
 */
export function preauthCapabilities(ctx: CapabilityContext): string {
  const caps = ['IMAP4rev1', 'SASL-IR', 'LITERAL+', 'ID'];
  if (ctx.canStartTls) caps.push('STARTTLS');
  const loginAllowed = ctx.secure || ctx.allowPlaintext;
  if (loginAllowed) caps.push('AUTH=PLAIN');
  else caps.push('LOGINDISABLED');
  if (ctx.oauth) caps.push('AUTH=XOAUTH2', 'AUTH=OAUTHBEARER');
  return caps.join(' ');
}
