import { answerSaslResponse, type SaslMechanism } from '@homing/proxy-core';
import { saslMechanisms } from './capabilities.js';
import { noopTagged, sieveReplies as r } from './replies.js';
import type { SieveSession } from './session.js';

export interface CommandSpec {
  /**
   * Carries credentials: refused on a connection without TLS unless the listener allows
   * plaintext logins (RFC 5804 §2.1: PLAIN only under TLS, by default).
   */
  readonly credentials: boolean;
  readonly handle: (session: SieveSession, args: readonly string[]) => void | Promise<void>;
}

/** The commands valid before login (RFC 5804 §2); the rest need a session on the backend. */
export const commands = {
  // RFC 5804 §2.4
  CAPABILITY: {
    credentials: false,
    handle: (s, args) =>
      args.length === 0
        ? s.reply(...s.capabilities(), r.capabilityDone.line)
        : s.reply(r.capabilityArguments.line),
  },
  // RFC 5804 §2.2
  STARTTLS: {
    credentials: false,
    handle: (s, args) => (args.length === 0 ? s.startTls() : s.reply(r.startTlsArguments.line)),
  },
  // RFC 5804 §2.1
  AUTHENTICATE: { credentials: true, handle: authenticate },
  // RFC 5804 §2.13: a string argument comes back as the TAG response code.
  NOOP: {
    credentials: false,
    handle: (s, args) => {
      const [tag] = args;
      if (args.length > 1) s.reply(r.noopArguments.line);
      else if (tag === undefined) s.reply(r.noopDone.line);
      else s.reply(noopTagged(tag));
    },
  },
  // RFC 5804 §2.3
  LOGOUT: { credentials: false, handle: (s) => s.close([r.logoutDone.line], 'logout') },
} satisfies Record<string, CommandSpec>;

export type Verb = keyof typeof commands;

export function commandSpec(verb: string): CommandSpec | undefined {
  return Object.hasOwn(commands, verb) ? commands[verb as Verb] : undefined;
}

async function authenticate(session: SieveSession, args: readonly string[]): Promise<void> {
  const [name, initial] = args;
  if (name === undefined || args.length > 2) {
    session.reply(r.authenticateSyntax.line);
    return;
  }
  const mechanism = saslMechanisms(session.oauth).find((m) => m === name.toUpperCase()) as
    | SaslMechanism
    | undefined;
  if (!mechanism) {
    session.reply(r.unsupportedMechanism.line);
    return;
  }
  if (initial === undefined) {
    // No initial response: an empty challenge (RFC 5804 §2.1), the next line answers it.
    session.awaitSaslResponse(mechanism);
    return;
  }
  // An empty string is an empty initial response: base64 of no bytes.
  await answerSaslResponse(mechanism, initial, session);
}
