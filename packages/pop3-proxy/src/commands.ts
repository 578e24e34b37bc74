import { answerSaslResponse, type SaslMechanism } from '@homing/proxy-core';
import { saslMechanisms } from './capabilities.js';
import { parseAuthArgument } from './command.js';
import { pop3Replies as r } from './replies.js';
import type { Pop3Session } from './session.js';

export interface CommandSpec {
  /**
   * Carries credentials: refused on a connection without TLS unless the listener allows
   * plaintext logins (RFC 2595 §2.4: a server must be able to refuse them before TLS).
   */
  readonly credentials: boolean;
  readonly handle: (session: Pop3Session, argument: string | undefined) => void | Promise<void>;
}

/**
 * The AUTHORIZATION state (RFC 1939 §4), the only one this proxy reads: its commands and the
 * extensions valid in it. NOOP and RSET are TRANSACTION-state commands (RFC 1939 §5) and APOP
 * is not offered, so they get -ERR like any other command.
 */
export const commands = {
  // RFC 2449 §5
  CAPA: {
    credentials: false,
    handle: (s) => s.reply(r.capabilities.line, ...s.capabilities(), '.'),
  },
  // RFC 2595 §4
  STLS: {
    credentials: false,
    handle: (s, argument) => (argument === undefined ? s.startTls() : s.reply(r.stlsArgument.line)),
  },
  // RFC 1939 §7
  USER: { credentials: true, handle: user },
  PASS: { credentials: true, handle: pass },
  // RFC 5034 §4
  AUTH: { credentials: true, handle: auth },
  // RFC 1939 §4: QUIT in the AUTHORIZATION state just ends the session.
  QUIT: { credentials: false, handle: (s) => s.close([r.loggingOut.line], 'quit') },
} satisfies Record<string, CommandSpec>;

export type Verb = keyof typeof commands;

export function commandSpec(verb: string): CommandSpec | undefined {
  return Object.hasOwn(commands, verb) ? commands[verb as Verb] : undefined;
}

function user(session: Pop3Session, argument: string | undefined): void {
  if (!argument) {
    session.reply(r.userArgument.line);
    return;
  }
  // Said of every name alike: whether the user exists is answered only after PASS.
  session.pendingUser = argument;
  session.reply(r.userTaken.line);
  session.userGiven(argument);
}

function pass(session: Pop3Session, argument: string | undefined): Promise<void> | undefined {
  const name = session.pendingUser;
  session.pendingUser = undefined;
  if (name === undefined) {
    session.reply(r.passWithoutUser.line);
    return undefined;
  }
  if (!argument) {
    session.reply(r.passArgument.line);
    return undefined;
  }
  return session.login({ mechanism: 'USER', user: name, password: argument });
}

async function auth(session: Pop3Session, argument: string | undefined): Promise<void> {
  const parsed = parseAuthArgument(argument);
  if (!parsed) {
    session.reply(r.authSyntax.line);
    return;
  }
  const mechanism = saslMechanisms(session.oauth).find((m) => m === parsed.mechanism) as
    | SaslMechanism
    | undefined;
  if (!mechanism) {
    session.reply(r.unsupportedMechanism.line);
    return;
  }
  if (parsed.initial === undefined) {
    // No initial response: an empty challenge, and the next line is the answer.
    session.awaitSaslResponse(mechanism);
    return;
  }
  // RFC 5034 §4: "=" is an empty initial response.
  await answerSaslResponse(mechanism, parsed.initial, session);
}
