/**
 * RFC 4515 §3: in an assertion value the characters `*`, `(`, `)`, `\` and NUL must be written
 * as `\` followed by two hex digits. We also escape the other ASCII control characters, which
 * are legal but only ever appear in hostile input and make logs unreadable.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '*' || ch === '(' || ch === ')' || ch === '\\' || code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else {
      out += ch;
    }
  }
  return out;
}

const PLACEHOLDER = /\{(\w+)\}/g;

/**
 * Fills `{name}` placeholders in an LDAP filter template, escaping every inserted value.
 * A placeholder with no value is an error rather than an empty string: an empty assertion
 * value would silently change what the filter matches.
 */
export function renderFilter(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`filter placeholder {${name}} has no value`);
    return escapeFilterValue(value);
  });
}

/** The placeholder names a template uses; checked when the config is loaded. */
export function filterPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}
