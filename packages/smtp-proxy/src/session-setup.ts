import type { SmtpListenerOptions } from './server.js';
import type { AuthMechanism } from './server-side/command.js';
import { hostLines } from './server-side/replies.js';
import type { SessionSetup } from './server-side/session.js';

/** What every session of a listener shares, made once; `auth` for submission. */
export function sessionSetup(
  options: SmtpListenerOptions,
  auth?: { readonly mechanisms: readonly AuthMechanism[]; readonly plaintext: boolean },
): SessionSetup {
  const lmtp = options.kind === 'lmtp';
  const startTls = options.spec.tls === 'starttls' ? options.tls : undefined;
  const capabilities = [
    'PIPELINING',
    '8BITMIME',
    ...(options.smtputf8 ? ['SMTPUTF8'] : []),
    'ENHANCEDSTATUSCODES',
    ...(options.dsn ? ['DSN'] : []),
    'CHUNKING',
  ];
  const size = `SIZE ${options.maxMessageBytes}`;
  const authLine = auth ? [`AUTH ${auth.mechanisms.join(' ')}`] : [];
  const lines = (list: string[]) =>
    list.map((l, i) => `250${i === list.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
  const greeting = `${options.hostname} Nice to meet you, `;
  return {
    lmtp,
    protocol: options.kind === 'mx' ? 'smtp' : options.kind,
    command: {
      lmtp,
      smtputf8: options.smtputf8,
      dsn: options.dsn,
      maxMessageBytes: options.maxMessageBytes,
      auth: auth?.mechanisms,
    },
    auth: auth ? { plaintext: auth.plaintext, limits: options.limits } : undefined,
    lines: hostLines(options.hostname, lmtp),
    ehloFirst: `250-${greeting}`,
    ehloPlain: lines([...capabilities, ...authLine, ...(startTls ? ['STARTTLS'] : []), size]),
    ehloSecure: lines([...capabilities, ...authLine, size]),
    ehloPlainUser: lines([...capabilities, ...(startTls ? ['STARTTLS'] : []), size]),
    ehloSecureUser: lines([...capabilities, size]),
    heloFirst: `250 ${greeting}`,
    limits: options.limits,
    maxRecipients: options.maxRecipients,
    greetingDelayMs: options.greetingDelayMs ?? 0,
    startTls,
    registry: options.registry,
  };
}
