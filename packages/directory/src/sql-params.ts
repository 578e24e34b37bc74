/** The values a query may name; each is bound by the driver, never spliced into the text. */
export const sqlPlaceholders = ['address', 'localpart', 'domain'] as const;
export type SqlPlaceholder = (typeof sqlPlaceholders)[number];

export type SqlDialect = 'postgres' | 'mysql';

export interface CompiledQuery {
  /** The query with each `:name` replaced by the dialect's positional marker. */
  readonly text: string;
  /** Which value goes to each marker, in order. */
  readonly names: readonly SqlPlaceholder[];
}

export class SqlQueryError extends Error {
  override readonly name = 'SqlQueryError';
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * Turns `:address`-style placeholders into `$1` (PostgreSQL) or `?` (MySQL). Quoted strings,
 * quoted identifiers, comments and PostgreSQL's `::type` casts are left alone, so a colon in a
 * literal is never mistaken for a placeholder. Rejects unknown names, and a literal `?` or `$n`
 * the driver would take for a parameter of its own.
 */
export function compileQuery(query: string, dialect: SqlDialect): CompiledQuery {
  const names: SqlPlaceholder[] = [];
  let text = '';
  let i = 0;
  while (i < query.length) {
    const c = query[i] as string;
    const skipped = skipQuotedOrComment(query, i, dialect);
    if (skipped > i) {
      text += query.slice(i, skipped);
      i = skipped;
      continue;
    }
    if (c === ':' && query[i + 1] === ':') {
      text += '::';
      i += 2;
      continue;
    }
    if (c === ':') {
      NAME.lastIndex = i + 1;
      const match = NAME.exec(query);
      if (!match) throw new SqlQueryError(`a ":" at offset ${i} names no placeholder`);
      const name = match[0];
      if (!(sqlPlaceholders as readonly string[]).includes(name)) {
        throw new SqlQueryError(
          `unknown placeholder :${name}; use ${sqlPlaceholders.map((n) => `:${n}`).join(', ')}`,
        );
      }
      names.push(name as SqlPlaceholder);
      text += dialect === 'postgres' ? `$${names.length}` : '?';
      i += 1 + name.length;
      continue;
    }
    if (c === '?' || (dialect === 'postgres' && c === '$' && /[0-9]/.test(query[i + 1] ?? ''))) {
      throw new SqlQueryError(`write placeholders as :address, not "${c}" (offset ${i})`);
    }
    text += c;
    i += 1;
  }
  return { text, names };
}

/** Where a quoted string or comment starting at `i` ends; `i` itself when none starts there. */
function skipQuotedOrComment(query: string, i: number, dialect: SqlDialect): number {
  const c = query[i];
  const next = query[i + 1];
  if (c === '-' && next === '-') return endOf(query, '\n', i + 2);
  if (c === '#' && dialect === 'mysql') return endOf(query, '\n', i + 1);
  if (c === '/' && next === '*') {
    const end = query.indexOf('*/', i + 2);
    if (end < 0) throw new SqlQueryError(`unterminated comment at offset ${i}`);
    return end + 2;
  }
  if (c === "'" || c === '"' || (c === '`' && dialect === 'mysql')) {
    // MySQL lets a backslash escape the quote; PostgreSQL (standard strings) only doubles it.
    const backslash = dialect === 'mysql' && c !== '`';
    for (let j = i + 1; j < query.length; j += 1) {
      if (backslash && query[j] === '\\') {
        j += 1;
      } else if (query[j] === c) {
        if (query[j + 1] === c) j += 1;
        else return j + 1;
      }
    }
    throw new SqlQueryError(`unterminated ${c} quote at offset ${i}`);
  }
  if (c === '$' && dialect === 'postgres') {
    const tag = /\$[A-Za-z_]*\$/y;
    tag.lastIndex = i;
    const match = tag.exec(query);
    if (match) {
      const end = query.indexOf(match[0], i + match[0].length);
      if (end < 0) throw new SqlQueryError(`unterminated ${match[0]} quote at offset ${i}`);
      return end + match[0].length;
    }
  }
  return i;
}

function endOf(query: string, marker: string, from: number): number {
  const end = query.indexOf(marker, from);
  return end < 0 ? query.length : end + marker.length;
}

/** The values of a compiled query's markers, in order. */
export function bindValues(
  compiled: CompiledQuery,
  values: Readonly<Record<SqlPlaceholder, string>>,
): string[] {
  return compiled.names.map((name) => values[name]);
}
