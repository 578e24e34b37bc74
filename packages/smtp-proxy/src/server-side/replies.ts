import type { ClientConnection } from '@homing/proxy-core';
import { SmtpError } from '../smtp-replies.js';
import type { Refusal } from './address.js';

/**
 * What the session says itself, each line whole with its CRLF (RFC 5321 §4.2, enhanced status
 * codes RFC 3463 on every reply but 220, EHLO's and 354 as RFC 2034 §3 has it). The router's
 * replies (recipients, messages) are smtp-replies.ts's and the backends' own.
 */
export const sessionLines = {
  mailOk: '250 2.1.0 Accepted\r\n',
  rcptOk: '250 2.1.5 Accepted\r\n',
  startData: '354 End data with <CR><LF>.<CR><LF>\r\n',
  rset: '250 2.0.0 Flushed\r\n',
  noop: '250 2.0.0 OK\r\n',
  quit: '221 2.0.0 Bye\r\n',
  help: '214 2.0.0 See https://tools.ietf.org/html/rfc5321 for details\r\n',
  // RFC 5321 §3.5.3: 252 when the server will not say whether the address exists.
  vrfy: '252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n',
  startTls: '220 2.0.0 Ready to start TLS\r\n',
  noTls: '502 5.5.1 Error: STARTTLS not offered\r\n',
  tlsActive: '503 5.5.1 Error: TLS already active\r\n',
  unknown: '500 5.5.2 Error: command not recognized\r\n',
  tooManyUnknown: '421 4.7.0 Error: too many unrecognized commands\r\n',
  lineTooLong: '500 5.5.2 Error: line too long\r\n',
  http: '421 4.7.0 HTTP requests not allowed\r\n',
  helloFirst: '503 5.5.1 Error: send HELO/EHLO first\r\n',
  lhloFirst: '503 5.5.1 Error: send LHLO first\r\n',
  nestedMail: '503 5.5.1 Error: nested MAIL command\r\n',
  needMail: '503 5.5.1 Error: need MAIL command\r\n',
  needRcpt: '503 5.5.1 Error: need RCPT command\r\n',
  dataAfterBdat: '503 5.5.1 Error: DATA after BDAT\r\n',
  tooManyRecipients: '452 4.5.3 Error: too many recipients\r\n',
  internal: '451 4.3.0 Error: internal server error\r\n',
} as const;

/** What submission's AUTH says (RFC 4954 §4, §6; RFC 3207 §4 for TLS first). */
export const authLines = {
  challenge: '334 \r\n',
  // LOGIN's prompts: "Username:" and "Password:" in base64.
  loginUser: '334 VXNlcm5hbWU6\r\n',
  loginPassword: '334 UGFzc3dvcmQ6\r\n',
  // RFC 7628 §3.2.2: the error as a JSON challenge; the client answers it and hears the 535.
  oauthError: `334 ${Buffer.from('{"status":"401","schemes":"bearer"}').toString('base64')}\r\n`,
  ok: '235 2.7.0 Authentication successful\r\n',
  needed: '530 5.7.0 Error: authentication Required\r\n',
  needTls: '538 5.7.11 Error: Must issue a STARTTLS command first\r\n',
  already: '503 5.5.1 Error: No identity changes permitted\r\n',
  inTransaction: '503 5.5.1 Error: AUTH not permitted during a mail transaction\r\n',
  cancelled: '501 5.7.0 Error: authentication aborted\r\n',
  badBase64: '501 5.5.2 Error: invalid base64 data\r\n',
  malformed: '501 5.5.2 Error: invalid userdata\r\n',
} as const;

/** The lines that name the host, made once per listener. */
export interface HostLines {
  readonly greeting: string;
  readonly earlyTalker: string;
  readonly idle: string;
  readonly shutdown: string;
  readonly lineTimeout: string;
}

export function hostLines(hostname: string, lmtp: boolean): HostLines {
  return {
    greeting: `220 ${hostname} ${lmtp ? 'LMTP' : 'ESMTP'}\r\n`,
    earlyTalker: `421 4.7.0 ${hostname} You talk too soon\r\n`,
    idle: `421 4.4.2 ${hostname} Timeout - closing connection\r\n`,
    shutdown: `421 4.3.2 ${hostname} Service shutting down, try again later\r\n`,
    lineTimeout: `421 4.4.2 ${hostname} Timeout: a command took too long\r\n`,
  };
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}(?: |$)/;

/** A reply is one line: nothing its text carries may start another (or hide in a log). */
function oneLine(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      out += `${text.slice(from, i)} `;
      from = i + 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * One reply line from a code and a text, with the generic enhanced status of its class when the
 * text has none (RFC 3463 §3.1: X.0.0), so that every reply after EHLO has one.
 */
export function replyLine(code: number, text: string): string {
  const clean = oneLine(text);
  if (code >= 300 && code < 400) return `${code} ${clean}\r\n`;
  return ENHANCED.test(clean)
    ? `${code} ${clean}\r\n`
    : `${code} ${Math.floor(code / 100)}.0.0 ${clean}\r\n`;
}

export function refusalLine(refusal: Refusal): string {
  return `${refusal.code} ${refusal.text}\r\n`;
}

/** A failure's reply: an SmtpError's own; anything else is logged and the internal error's. */
export function errorLine(error: unknown, connection: Pick<ClientConnection, 'log'>): string {
  if (error instanceof SmtpError) return replyLine(error.responseCode, error.message);
  connection.log.warn({ err: String(error) }, 'smtp command failed');
  return sessionLines.internal;
}
