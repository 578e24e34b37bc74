import type { Directory } from '@homing/directory';
import {
  AddressSet,
  BackendHealth,
  defaultLimits,
  noMetrics,
  SessionRegistry,
} from '@homing/proxy-core';
import { pino } from 'pino';
import type { SmtpKind, SmtpListenerOptions } from '../src/index.js';

/**
 * A plaintext SMTP listener's options on loopback as the tests start them (homing.test, 100 kB
 * messages, 10 recipients, `single`, no SMTPUTF8 or DSN, silent log); `more` changes any of them.
 */
export function smtpListenerOptions(
  name: string,
  port: number,
  kind: SmtpKind,
  directory: Directory,
  more: Partial<SmtpListenerOptions> = {},
): SmtpListenerOptions {
  return {
    spec: {
      name,
      host: '127.0.0.1',
      port,
      tls: 'none',
      proxyProtocol: false,
      trustedProxies: new AddressSet([]),
    },
    kind,
    directory,
    health: new BackendHealth({ backoffMinMs: 100, backoffMaxMs: 200 }),
    limits: defaultLimits,
    registry: new SessionRegistry(),
    tls: undefined,
    hostname: 'homing.test',
    maxMessageBytes: 100_000,
    maxRecipients: 10,
    maxReceived: 30,
    policy: 'single',
    smtputf8: false,
    dsn: false,
    isOwnAddress: () => false,
    metrics: noMetrics,
    log: pino({ level: 'silent' }),
    ...more,
  };
}
