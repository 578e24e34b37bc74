/**
 * The argument of MAIL FROM and RCPT TO (RFC 5321 §4.1.2): a path in angle brackets and ESMTP
 * parameters. Pure functions over a decoded line; every refusal says its reply.
 */

/** An envelope address as the router takes it: parameters by upper-cased keyword. */
export interface SmtpAddress {
  /** Without brackets and source route; '' for the null sender `<>`. */
  readonly address: string;
  readonly args: Readonly<Record<string, string | true>> | false;
}

/** What a refused command is answered with (code, enhanced status and text). */
export interface Refusal {
  readonly code: number;
  readonly text: string;
  /** The session cannot go on after it (a BDAT chunk of unknown size follows). */
  readonly close?: true;
}

/** What the listener offers, which decides which parameters are known. */
export interface ParamOptions {
  readonly smtputf8: boolean;
  readonly dsn: boolean;
  /** SIZE (RFC 1870): the largest message; a declared size above it is refused at MAIL. */
  readonly maxMessageBytes: number;
}

// RFC 5321 §4.5.3.1.1-3.
const MAX_LOCAL_PART = 64;
const MAX_DOMAIN = 255;
const MAX_PATH = 256;

const badSender: Refusal = { code: 501, text: '5.1.7 Error: Bad sender address syntax' };
const badRecipient: Refusal = { code: 501, text: '5.1.3 Error: Bad recipient address syntax' };
const badParams: Refusal = { code: 501, text: '5.5.4 Error: Bad command parameter syntax' };
const noUtf8: Refusal = {
  code: 553,
  text: '5.6.7 Error: Non-ASCII address without SMTPUTF8',
};

/**
 * `rest`: what follows `FROM:` / `TO:`. `nonAscii`: the line has UTF-8 beyond ASCII, allowed in
 * MAIL with SMTPUTF8 and in RCPT when the transaction's MAIL had it (`utf8Transaction`).
 */
export function parsePath(
  rest: string,
  kind: 'mail' | 'rcpt',
  nonAscii: boolean,
  utf8Transaction: boolean,
  options: ParamOptions,
): SmtpAddress | Refusal {
  const bad = kind === 'mail' ? badSender : badRecipient;
  // Many senders write a space after the colon (`MAIL FROM: <a@b>`): tolerated, as Postfix does.
  let at = 0;
  while (rest.charCodeAt(at) === 0x20) at += 1;
  if (rest.charCodeAt(at) !== 0x3c /* < */) return bad;
  const close = closingBracket(rest, at + 1);
  if (close < 0) return bad;
  let path = rest.slice(at + 1, close);
  // A source route (`<@a,@b:user@c>`) is to be accepted and its hops ignored (RFC 5321 §4.1.2, C.).
  if (path.charCodeAt(0) === 0x40 /* @ */) {
    const colon = path.indexOf(':');
    if (colon < 0) return bad;
    path = path.slice(colon + 1);
  }
  const after = rest.slice(close + 1);
  if (after !== '' && after.charCodeAt(0) !== 0x20) return bad;
  const args = parseParams(after, kind, options);
  if (isRefusal(args)) return args;
  // RFC 6531 §3.4: UTF-8 in the envelope only with SMTPUTF8.
  const utf8 = kind === 'mail' ? args !== false && args.SMTPUTF8 === true : utf8Transaction;
  if (nonAscii && !utf8) return noUtf8;
  if (path === '') return kind === 'mail' ? { address: '', args } : bad;
  if (!validMailbox(path, kind)) return bad;
  return { address: path, args };
}

// Parameter keys are upper-cased: none is `code`.
function isRefusal(value: Record<string, string | true> | false | Refusal): value is Refusal {
  return value !== false && typeof value.code === 'number';
}

/** Where the path's `>` is, past any quoted string (a quoted local part may hold `>`). */
function closingBracket(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i += 1;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22 /* " */) quoted = true;
    else if (c === 0x3e /* > */) return i;
    else if (c === 0x3c || c === 0x20) return -1;
  }
  return -1;
}

/** local-part "@" domain (RFC 5321 §4.1.2); RCPT also takes a bare `Postmaster` (§4.5.1). */
function validMailbox(path: string, kind: 'mail' | 'rcpt'): boolean {
  if (path.length > MAX_PATH) return false;
  const at = path.lastIndexOf('@');
  if (at < 0) return kind === 'rcpt' && path.toLowerCase() === 'postmaster';
  const local = path.slice(0, at);
  const domain = path.slice(at + 1);
  if (local === '' || domain === '') return false;
  if (local.length > MAX_LOCAL_PART || domain.length > MAX_DOMAIN) return false;
  if (local.charCodeAt(0) === 0x22) {
    if (local.length < 2 || local.charCodeAt(local.length - 1) !== 0x22) return false;
  } else if (!DOT_STRING.test(local)) return false;
  return domain.charCodeAt(0) === 0x5b /* [ */ ? ADDRESS_LITERAL.test(domain) : DOMAIN.test(domain);
}

// atext (RFC 5322 §3.2.3) and UTF-8 (RFC 6531 §3.3), dot-separated.
const DOT_STRING =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;
const DOMAIN =
  /^[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?(?:\.[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?)*\.?$/;
const ADDRESS_LITERAL = /^\[[^\][\\]+\]$/;

// RFC 5321 §4.1.2: esmtp-keyword and esmtp-value (any printable but "=" and SP; UTF-8 too).
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const VALUE = /^[!-<>-~\u0080-\uffff]+$/;

/** Which parameters each command takes, by what the listener offers. */
function known(key: string, kind: 'mail' | 'rcpt', options: ParamOptions): boolean {
  if (kind === 'rcpt') return options.dsn && (key === 'NOTIFY' || key === 'ORCPT');
  switch (key) {
    case 'SIZE':
    case 'BODY':
      return true;
    case 'SMTPUTF8':
      return options.smtputf8;
    case 'RET':
    case 'ENVID':
      return options.dsn;
    default:
      return false;
  }
}

function parseParams(
  text: string,
  kind: 'mail' | 'rcpt',
  options: ParamOptions,
): Record<string, string | true> | false | Refusal {
  if (text.trim() === '') return false;
  const args: Record<string, string | true> = {};
  for (const word of text.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? true : word.slice(eq + 1);
    if (!KEYWORD.test(key) || (value !== true && !VALUE.test(value))) return badParams;
    if (!known(key, kind, options)) {
      return { code: 555, text: `5.5.4 Error: ${key} parameter not supported` };
    }
    if (Object.hasOwn(args, key))
      return { code: 501, text: `5.5.4 Error: duplicate ${key} parameter` };
    const refused = checkValue(key, value, options);
    if (refused) return refused;
    args[key] = value;
  }
  return args;
}

const notify = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);

function checkValue(key: string, value: string | true, options: ParamOptions): Refusal | undefined {
  if (key === 'SMTPUTF8') {
    return value === true ? undefined : { code: 501, text: '5.5.4 Error: SMTPUTF8 takes no value' };
  }
  if (value === true) return { code: 501, text: `5.5.4 Error: ${key} parameter requires a value` };
  switch (key) {
    case 'SIZE':
      // RFC 1870 §3: size-value ::= 1*20DIGIT.
      if (!/^\d{1,20}$/.test(value))
        return { code: 501, text: '5.5.4 Error: Bad message size syntax' };
      if (Number(value) > options.maxMessageBytes) return tooBig(options.maxMessageBytes);
      return undefined;
    case 'BODY': {
      // RFC 6152; BINARYMIME (RFC 3030) is not offered.
      const body = value.toUpperCase();
      return body === '7BIT' || body === '8BITMIME'
        ? undefined
        : { code: 501, text: '5.5.4 Error: BODY must be 7BIT or 8BITMIME' };
    }
    case 'RET': {
      const ret = value.toUpperCase();
      return ret === 'FULL' || ret === 'HDRS'
        ? undefined
        : { code: 501, text: '5.5.4 Error: RET must be FULL or HDRS' };
    }
    case 'NOTIFY': {
      // RFC 3461 §4.1: NEVER alone, or any of the others.
      const values = value.toUpperCase().split(',');
      if (values.some((v) => !notify.has(v)) || (values.includes('NEVER') && values.length > 1))
        return { code: 501, text: '5.5.4 Error: Bad NOTIFY parameter' };
      return undefined;
    }
    case 'ORCPT':
      // RFC 3461 §4.2: addr-type ";" xtext.
      return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+;./.test(value)
        ? undefined
        : { code: 501, text: '5.5.4 Error: Bad ORCPT parameter syntax' };
    default:
      return undefined; // ENVID: any xtext
  }
}

/** The message is over the listener's limit (RFC 1870 §6.1). */
export function tooBig(maxMessageBytes: number): Refusal {
  return {
    code: 552,
    text: `5.3.4 Error: message exceeds fixed maximum message size ${maxMessageBytes}`,
  };
}
