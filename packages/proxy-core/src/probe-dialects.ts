import type { MasterCredentials, Protocol } from '@homing/directory';
import { type Dialogue, ProbeError } from './probe-dialogue.js';

/** One protocol's probe conversation; SMTP and LMTP have no probe login, so no STARTTLS. */
export interface Dialect {
  greeting(talk: Dialogue): Promise<void>;
  startTls?(talk: Dialogue): Promise<void>;
  login?(talk: Dialogue, credentials: MasterCredentials): Promise<void>;
  goodbye(talk: Dialogue): Promise<void>;
}

/** Server text for an error message: printable, short. */
function clip(line: string): string {
  return JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line);
}

function must(line: string, pattern: RegExp, what: string): void {
  if (!pattern.test(line)) throw new ProbeError(`${what}: ${clip(line)}`);
}

/** An IMAP quoted string (../rfc/9051 §4.3); CR, LF and NUL were refused with the config. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

const IMAP_OK = /^OK\b/i;
const POP3_OK = /^\+OK\b/;
const SIEVE_OK = /^OK\b/i;
/** More capability lines than a ManageSieve server has: something else answered. */
const MAX_CAPABILITY_LINES = 64;

const imap: Dialect = {
  // ../rfc/9051 §7.1.1: OK greeting; PREAUTH is no use to a proxy and BYE is a refusal.
  greeting: async (talk) => must(await talk.read(), /^\* OK\b/i, 'greeting is not "* OK"'),
  // ../rfc/9051 §6.2.1
  startTls: async (talk) => {
    must(await talk.imap('STARTTLS'), IMAP_OK, 'STARTTLS refused');
    await talk.secure();
  },
  // ../rfc/9051 §6.2.3; the reply, never the command, goes into the error.
  login: async (talk, { user, password }) =>
    must(await talk.imap(`LOGIN ${quoted(user)} ${quoted(password)}`), IMAP_OK, 'login refused'),
  // ../rfc/9051 §6.1.3
  goodbye: async (talk) => {
    await talk.imap('LOGOUT');
  },
};

const pop3: Dialect = {
  // RFC 1939 §4
  greeting: async (talk) => must(await talk.read(), POP3_OK, 'greeting is not "+OK"'),
  // RFC 2595 §4
  startTls: async (talk) => {
    talk.send('STLS');
    must(await talk.read(), POP3_OK, 'STLS refused');
    await talk.secure();
  },
  // RFC 1939 §7
  login: async (talk, { user, password }) => {
    talk.send(`USER ${user}`);
    must(await talk.read(), POP3_OK, 'login refused');
    talk.send(`PASS ${password}`);
    must(await talk.read(), POP3_OK, 'login refused');
  },
  goodbye: async (talk) => {
    talk.send('QUIT');
    await talk.read();
  },
};

/**
 * RFC 5804 §1.4: capability lines (quoted names) end with an OK, NO or BYE line; only OK is
 * ready. The capabilities are read again after STARTTLS (§2.2).
 */
async function sieveCapabilities(talk: Dialogue, what: string): Promise<void> {
  const lines: string[] = [];
  for (;;) {
    const line = await talk.read();
    if (line.startsWith('"')) {
      if (lines.length === MAX_CAPABILITY_LINES) throw new ProbeError(`${what}: too many lines`);
      lines.push(line);
      continue;
    }
    must(line, SIEVE_OK, what);
    talk.capabilities = lines;
    return;
  }
}

const managesieve: Dialect = {
  greeting: (talk) => sieveCapabilities(talk, 'greeting does not end in OK'),
  // RFC 5804 §2.2
  startTls: async (talk) => {
    talk.send('STARTTLS');
    must(await talk.read(), SIEVE_OK, 'STARTTLS refused');
    await talk.secure();
    await sieveCapabilities(talk, 'capabilities after STARTTLS do not end in OK');
  },
  // RFC 5804 §2.1 with PLAIN (RFC 4616) as the initial response.
  login: async (talk, { user, password }) => {
    const plain = Buffer.from(`\u0000${user}\u0000${password}`, 'utf8').toString('base64');
    talk.send(`AUTHENTICATE "PLAIN" "${plain}"`);
    must(await talk.read(), SIEVE_OK, 'login refused');
  },
  // RFC 5804 §2.3
  goodbye: async (talk) => {
    talk.send('LOGOUT');
    await talk.read();
  },
};

const smtp: Dialect = {
  // RFC 5321 §4.2: a greeting may span lines ("220-" before the last, "220 " on it); 554 refuses.
  greeting: async (talk) => {
    for (;;) {
      const line = await talk.read();
      if (/^220(?: |$)/.test(line)) return;
      must(line, /^220-/, 'greeting is not 220');
    }
  },
  // RFC 5321 §4.1.1.10
  goodbye: async (talk) => {
    talk.send('QUIT');
    await talk.read();
  },
};

export const dialects = {
  imap,
  pop3,
  smtp,
  lmtp: smtp, // RFC 2033 §4.1: the same greeting as SMTP
  submission: smtp,
  managesieve,
} satisfies Record<Protocol, Dialect>;
