/** How logins and recipient addresses are turned into a lookup key. */
export interface AddressRules {
  /** Appended to a bare login (no `@`); none: bare logins are looked up as they are. */
  defaultDomain?: string | undefined;
  /** `lower` folds the local part to lower case; `none` keeps it (RFC 5321 §2.4 allows both). */
  localPartFolding: 'lower' | 'none';
  /** Separator of a `+detail` in recipients (`alice+news@…` → `alice@…`); empty: keep it. */
  detailSeparator: string;
  /** Domains that are other names of a domain: `{ 'example.net': 'example.com' }`. */
  domainAliases: Readonly<Record<string, string>>;
  /** Longer input is no user at all (RFC 5321 §4.5.3.1: 64 + 1 + 255). */
  maxLength: number;
}

export const defaultAddressRules: AddressRules = {
  defaultDomain: undefined,
  localPartFolding: 'none',
  detailSeparator: '+',
  domainAliases: {},
  maxLength: 320,
};

export interface Address {
  /** The lookup key: `local@domain`, or a bare login when there is no default domain. */
  readonly key: string;
  readonly local: string;
  /** Empty for a bare login. */
  readonly domain: string;
}

export type AddressKind = 'login' | 'recipient';

/** Control characters never belong in a login or an address; they only arrive in hostile input. */
function hasControl(input: string): boolean {
  for (let i = 0; i < input.length; i += 1) {
    const code = input.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Returns undefined for input that can name no user; callers treat that as "no such user". */
export function normalizeAddress(
  input: string,
  rules: AddressRules,
  kind: AddressKind,
): Address | undefined {
  if (input.length === 0 || input.length > rules.maxLength || hasControl(input)) return undefined;
  const at = input.lastIndexOf('@');
  let local = at === -1 ? input : input.slice(0, at);
  let domain = at === -1 ? (rules.defaultDomain ?? '') : input.slice(at + 1);
  if (local.length === 0 || (at !== -1 && domain.length === 0)) return undefined;

  domain = domain.toLowerCase().replace(/\.$/, '');
  domain = rules.domainAliases[domain] ?? domain;
  if (rules.localPartFolding === 'lower') local = local.toLowerCase();
  if (kind === 'recipient' && rules.detailSeparator !== '') {
    const cut = local.indexOf(rules.detailSeparator);
    if (cut > 0) local = local.slice(0, cut);
  }
  const key = domain === '' ? local : `${local}@${domain}`;
  if (key.length > rules.maxLength) return undefined;
  return { key, local, domain };
}
