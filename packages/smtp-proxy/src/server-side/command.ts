import { type ParamOptions, parsePath, type Refusal, type SmtpAddress } from './address.js';

/**
 * One SMTP or LMTP command line, parsed (RFC 5321 §4.1, RFC 2033, RFC 3030, RFC 3207). A pure
 * function of the line (without its line end) and of what the listener offers: the session
 * checks the order of commands, this only their form.
 */
export type SmtpCommand =
  | { readonly verb: 'EHLO' | 'HELO' | 'LHLO'; readonly domain: string }
  | { readonly verb: 'MAIL' | 'RCPT'; readonly path: SmtpAddress }
  | { readonly verb: 'BDAT'; readonly size: number; readonly last: boolean }
  /** RFC 4954 §4: a mechanism the listener offers, and the initial response as written. */
  | {
      readonly verb: 'AUTH';
      readonly mechanism: AuthMechanism;
      readonly initial: string | undefined;
    }
  | {
      readonly verb: 'DATA' | 'RSET' | 'NOOP' | 'QUIT' | 'HELP' | 'VRFY' | 'STARTTLS';
    }
  /** Not a command this server knows (500; counts against the client). */
  | { readonly verb: 'unknown' }
  /** An HTTP request sent to the SMTP port (a web page's cross-protocol attempt): closed. */
  | { readonly verb: 'http' }
  /** A known command in a malformed form: its reply. */
  | { readonly verb: 'invalid'; readonly refusal: Refusal };

/** The SASL mechanisms a submission listener may offer. */
export type AuthMechanism = 'PLAIN' | 'LOGIN' | 'XOAUTH2' | 'OAUTHBEARER';

export interface CommandOptions extends ParamOptions {
  readonly lmtp: boolean;
  /** The mechanisms AUTH offers (submission); without it AUTH is no command here (MX, LMTP). */
  readonly auth?: readonly AuthMechanism[] | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const noControls: Refusal = { code: 501, text: '5.5.2 Error: control characters in command' };
const badUtf8: Refusal = { code: 501, text: '5.5.2 Error: command is not valid UTF-8' };
const noArguments: Refusal = { code: 501, text: '5.5.4 Error: this command takes no arguments' };
const badHello: Refusal = { code: 501, text: '5.5.4 Error: syntax: EHLO hostname' };
const badMail: Refusal = { code: 501, text: '5.5.4 Error: syntax: MAIL FROM:<address>' };
const badRcpt: Refusal = { code: 501, text: '5.5.4 Error: syntax: RCPT TO:<address>' };
// The chunk's bytes cannot be told from the next command: the session ends (RFC 3030 §2).
const badBdat: Refusal = { code: 501, text: '5.5.4 Error: syntax: BDAT size [LAST]', close: true };
const badVrfy: Refusal = { code: 501, text: '5.5.4 Error: syntax: VRFY address' };
const badAuth: Refusal = {
  code: 501,
  text: '5.5.4 Error: syntax: AUTH mechanism [initial-response]',
};
const badInitial: Refusal = { code: 501, text: '5.5.2 Error: invalid base64 data' };
const unknownMechanism: Refusal = {
  code: 504,
  text: '5.5.4 Error: Unrecognized authentication type',
};

// The commands without their own fields are the same object every time.
const plain = {
  DATA: { verb: 'DATA' },
  RSET: { verb: 'RSET' },
  NOOP: { verb: 'NOOP' },
  QUIT: { verb: 'QUIT' },
  HELP: { verb: 'HELP' },
  VRFY: { verb: 'VRFY' },
  STARTTLS: { verb: 'STARTTLS' },
} as const;
const unknown: SmtpCommand = { verb: 'unknown' };
const http: SmtpCommand = { verb: 'http' };

// Largest BDAT chunk size read as a number; anything longer cannot be followed (RFC 3030 §2).
const MAX_BDAT_DIGITS = 15;
// A domain or address literal (RFC 5321 §4.1.1.1), bounded like a domain (§4.5.3.1.2).
const HELLO_DOMAIN =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9_.])?|\[[!-Z^-~]{1,253}\])$/;
// An initial response: base64 (RFC 4648 §4), or `=` for an empty one (RFC 4954 §4).
const INITIAL_RESPONSE = /^(?:[A-Za-z0-9+/]+={0,2}|=)$/;
const HTTP_VERBS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/**
 * `utf8Transaction`: the transaction's MAIL had SMTPUTF8, so RCPT may carry UTF-8 addresses.
 */
export function parseCommand(
  line: Buffer,
  options: CommandOptions,
  utf8Transaction = false,
): SmtpCommand {
  let nonAscii = false;
  for (let i = 0; i < line.length; i += 1) {
    const byte = line[i] as number;
    // NUL, bare CR, ESC, DEL...: no command carries them, and none may reach a backend's line.
    if (byte < 0x20 || byte === 0x7f) return { verb: 'invalid', refusal: noControls };
    if (byte > 0x7f) nonAscii = true;
  }
  let text: string;
  if (nonAscii) {
    try {
      text = utf8.decode(line);
    } catch {
      return { verb: 'invalid', refusal: badUtf8 };
    }
  } else text = line.toString('latin1');
  const space = text.indexOf(' ');
  const verb = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  const argument = space < 0 ? '' : text.slice(space + 1);
  switch (verb) {
    case 'EHLO':
    case 'HELO':
      return options.lmtp ? unknown : hello(verb, argument);
    case 'LHLO':
      return options.lmtp ? hello(verb, argument) : unknown;
    case 'MAIL':
      return envelope('MAIL', argument, 'FROM:', badMail, nonAscii, utf8Transaction, options);
    case 'RCPT':
      return envelope('RCPT', argument, 'TO:', badRcpt, nonAscii, utf8Transaction, options);
    case 'BDAT':
      return bdat(argument);
    case 'AUTH':
      return options.auth ? auth(argument, options.auth) : unknown;
    case 'DATA':
    case 'RSET':
    case 'QUIT':
    case 'STARTTLS':
      return space < 0 ? plain[verb] : { verb: 'invalid', refusal: noArguments };
    case 'NOOP':
    case 'HELP':
      // RFC 5321 §4.1.1.8-9: an argument is allowed and ignored.
      return plain[verb];
    case 'VRFY':
      return argument.trim() === '' ? { verb: 'invalid', refusal: badVrfy } : plain.VRFY;
    default:
      return HTTP_VERBS.has(verb) && / HTTP\/\d\.\d$/.test(argument) ? http : unknown;
  }
}

function hello(verb: 'EHLO' | 'HELO' | 'LHLO', argument: string): SmtpCommand {
  const domain = argument.trim();
  if (!HELLO_DOMAIN.test(domain)) {
    return {
      verb: 'invalid',
      refusal:
        verb === 'EHLO' ? badHello : { ...badHello, text: `5.5.4 Error: syntax: ${verb} hostname` },
    };
  }
  return { verb, domain: domain.toLowerCase() };
}

function envelope(
  verb: 'MAIL' | 'RCPT',
  argument: string,
  keyword: 'FROM:' | 'TO:',
  syntax: Refusal,
  nonAscii: boolean,
  utf8Transaction: boolean,
  options: CommandOptions,
): SmtpCommand {
  if (argument.slice(0, keyword.length).toUpperCase() !== keyword) {
    return { verb: 'invalid', refusal: syntax };
  }
  const kind = verb === 'MAIL' ? 'mail' : 'rcpt';
  const path = parsePath(argument.slice(keyword.length), kind, nonAscii, utf8Transaction, options);
  return 'code' in path ? { verb: 'invalid', refusal: path } : { verb, path };
}

function bdat(argument: string): SmtpCommand {
  const words = argument.split(' ');
  const [size = '', last] = words;
  if (words.length > 2 || !/^\d+$/.test(size) || size.length > MAX_BDAT_DIGITS)
    return { verb: 'invalid', refusal: badBdat };
  if (last !== undefined && last.toUpperCase() !== 'LAST')
    return { verb: 'invalid', refusal: badBdat };
  return { verb: 'BDAT', size: Number(size), last: last !== undefined };
}

function auth(argument: string, offered: readonly AuthMechanism[]): SmtpCommand {
  const words = argument.split(' ');
  const [name = '', initial] = words;
  if (words.length > 2 || name === '') return { verb: 'invalid', refusal: badAuth };
  const mechanism = offered.find((m) => m === name.toUpperCase());
  if (mechanism === undefined) return { verb: 'invalid', refusal: unknownMechanism };
  if (initial !== undefined && !INITIAL_RESPONSE.test(initial))
    return { verb: 'invalid', refusal: badInitial };
  return { verb: 'AUTH', mechanism, initial };
}
