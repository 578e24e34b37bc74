import { quoted } from './command.js';
import { parseSieveLine } from './response.js';

export interface CapabilityContext {
  /** STARTTLS is possible on this connection now. */
  readonly canStartTls: boolean;
  /** The client may log in now: the connection is TLS, or plaintext logins are allowed. */
  readonly loginAllowed: boolean;
  /** XOAUTH2 and OAUTHBEARER are passed through to backends. */
  readonly oauth: boolean;
  /** The SIEVE and NOTIFY lists the backends reported. */
  readonly extensions: BackendExtensions;
}

/** The SASL mechanisms this proxy reads before login. */
export function saslMechanisms(oauth: boolean): string[] {
  return oauth ? ['PLAIN', 'XOAUTH2', 'OAUTHBEARER'] : ['PLAIN'];
}

/**
 * The capability lines before login (RFC 5804 §1.7), without the final OK: what this proxy does
 * itself, and the Sieve extensions every backend heard so far has in common. After login the
 * client asks the backend, which answers for itself.
 */
export function preauthCapabilities(ctx: CapabilityContext): string[] {
  const lines = [`"IMPLEMENTATION" ${quoted('homing')}`];
  // §1.7: an empty SASL list says no mechanism is available before STARTTLS.
  const sasl = ctx.loginAllowed ? saslMechanisms(ctx.oauth).join(' ') : '';
  lines.push(`"SASL" ${quoted(sasl)}`);
  const sieve = ctx.extensions.sieve;
  if (sieve !== undefined) lines.push(`"SIEVE" ${quoted(sieve.join(' '))}`);
  const notify = ctx.extensions.notify;
  if (notify !== undefined && notify.length > 0) lines.push(`"NOTIFY" ${quoted(notify.join(' '))}`);
  if (ctx.canStartTls) lines.push('"STARTTLS"');
  lines.push('"VERSION" "1.0"');
  return lines;
}

/** A backend's capability lines (RFC 5804 §1.7) as its health probe last read them. */
export interface ProbedCapabilities {
  readonly backend: string;
  readonly lines: readonly string[];
}

/**
 * The SIEVE and NOTIFY lists (RFC 5804 §1.7) of the backends: the intersection over every
 * backend known, so that a client is never offered an extension its home lacks. A backend is
 * known from its health probes and from every login there, the later telling.
 */
export class BackendExtensions {
  readonly #heard = new Map<string, ReadonlyMap<string, string | undefined>>();

  constructor(private readonly probed: () => Iterable<ProbedCapabilities> = () => []) {}

  /** One backend's capabilities, as a login there read them. */
  heard(backend: string, capabilities: ReadonlyMap<string, string | undefined>): void {
    this.#heard.set(backend.toLowerCase(), capabilities);
  }

  get sieve(): string[] | undefined {
    return this.#common('SIEVE');
  }

  get notify(): string[] | undefined {
    return this.#common('NOTIFY');
  }

  #common(name: string): string[] | undefined {
    const known = new Map<string, ReadonlyMap<string, string | undefined>>();
    for (const { backend, lines } of this.probed()) known.set(backend.toLowerCase(), read(lines));
    for (const [backend, capabilities] of this.#heard) known.set(backend, capabilities);
    let common: Set<string> | undefined;
    for (const capabilities of known.values()) {
      if (!capabilities.has('SIEVE')) continue; // not a ManageSieve list at all
      const words = (capabilities.get(name) ?? '').split(' ').filter((w) => w !== '');
      common = new Set(common === undefined ? words : words.filter((w) => common?.has(w)));
    }
    return common && [...common].sort();
  }
}

function read(lines: readonly string[]): Map<string, string | undefined> {
  const capabilities = new Map<string, string | undefined>();
  for (const line of lines) {
    const parsed = parseSieveLine(Buffer.from(line, 'utf8'));
    if (parsed?.kind === 'capability') capabilities.set(parsed.name, parsed.value);
  }
  return capabilities;
}
