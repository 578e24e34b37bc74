export interface CapabilityContext {
  /** STLS is possible on this connection now. */
  readonly canStartTls: boolean;
  /** The client may log in now: the connection is TLS, or plaintext logins are allowed. */
  readonly loginAllowed: boolean;
  /** XOAUTH2 and OAUTHBEARER are passed through to backends. */
  readonly oauth: boolean;
}

/** The SASL mechanisms this proxy reads before login (RFC 5034 §4). */
export function saslMechanisms(oauth: boolean): string[] {
  return oauth ? ['PLAIN', 'XOAUTH2', 'OAUTHBEARER'] : ['PLAIN'];
}

/**
 * The CAPA list before login (RFC 2449 §5): only what this proxy itself does. TOP, UIDL and the
 * rest belong to the backend, which answers CAPA itself once the session is spliced.
 */
export function preauthCapabilities(ctx: CapabilityContext): string[] {
  const caps: string[] = [];
  if (ctx.canStartTls) caps.push('STLS'); // RFC 2595 §4
  if (ctx.loginAllowed) {
    caps.push('USER'); // RFC 2449 §6.2
    caps.push(`SASL ${saslMechanisms(ctx.oauth).join(' ')}`); // RFC 2449 §6.3
  }
  caps.push('RESP-CODES'); // RFC 2449 §6.4
  caps.push('AUTH-RESP-CODE'); // RFC 3206 §6
  // RFC 2449 §6.6: commands are read and answered strictly in order, however many arrive.
  caps.push('PIPELINING');
  return caps;
}
