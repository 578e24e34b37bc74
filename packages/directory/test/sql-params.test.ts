import { describe, expect, it } from 'vitest';
import { bindValues, compileQuery, SqlQueryError } from '../src/sql-params.js';

describe('compileQuery', () => {
  const cases: [string, string, string, string[]][] = [
    [
      'plain',
      'SELECT home FROM u WHERE a = :address',
      'SELECT home FROM u WHERE a = $1',
      ['address'],
    ],
    [
      'all three, one twice',
      'SELECT home FROM u WHERE l = :localpart AND d = :domain OR a = :address OR x = :domain',
      'SELECT home FROM u WHERE l = $1 AND d = $2 OR a = $3 OR x = $4',
      ['localpart', 'domain', 'address', 'domain'],
    ],
    [
      'cast kept',
      'SELECT home::text FROM u WHERE a = :address',
      'SELECT home::text FROM u WHERE a = $1',
      ['address'],
    ],
    [
      'colon in a string',
      "SELECT ':address' AS x WHERE a = :address",
      "SELECT ':address' AS x WHERE a = $1",
      ['address'],
    ],
    [
      'doubled quote',
      "SELECT 'it''s :domain' WHERE a = :address",
      "SELECT 'it''s :domain' WHERE a = $1",
      ['address'],
    ],
    [
      'quoted identifier',
      'SELECT ":address" FROM u WHERE a = :address',
      'SELECT ":address" FROM u WHERE a = $1',
      ['address'],
    ],
    [
      'line comment',
      'SELECT 1 -- :nope\nWHERE a = :address',
      'SELECT 1 -- :nope\nWHERE a = $1',
      ['address'],
    ],
    [
      'block comment',
      'SELECT 1 /* :nope ? */ WHERE a = :address',
      'SELECT 1 /* :nope ? */ WHERE a = $1',
      ['address'],
    ],
    [
      'dollar quote',
      'SELECT $q$:nope$q$ WHERE a = :address',
      'SELECT $q$:nope$q$ WHERE a = $1',
      ['address'],
    ],
    ['no placeholder', 'SELECT 1', 'SELECT 1', []],
  ];
  it.each(cases)('postgres: %s', (_name, query, text, names) => {
    expect(compileQuery(query, 'postgres')).toEqual({ text, names });
  });

  it('mysql uses ? and knows backticks, # comments and backslash escapes', () => {
    const query = "SELECT `:x`, 'a\\':b' # :c\n FROM u WHERE a = :address AND d = :domain";
    expect(compileQuery(query, 'mysql')).toEqual({
      text: "SELECT `:x`, 'a\\':b' # :c\n FROM u WHERE a = ? AND d = ?",
      names: ['address', 'domain'],
    });
  });

  const hostile: [string, string][] = [
    ['unknown name', 'SELECT home FROM u WHERE a = :user'],
    ['bare colon', 'SELECT home FROM u WHERE a = : address'],
    ['driver marker ?', 'SELECT home FROM u WHERE a = ?'],
    ['driver marker $1', 'SELECT home FROM u WHERE a = $1'],
    ['unterminated string', "SELECT home FROM u WHERE a = ':address"],
    ['unterminated comment', 'SELECT home /* FROM u WHERE a = :address'],
    ['unterminated dollar quote', 'SELECT $x$ home FROM u WHERE a = :address'],
  ];
  it.each(hostile)('refuses %s', (_name, query) => {
    expect(() => compileQuery(query, 'postgres')).toThrow(SqlQueryError);
  });

  it('binds values by name, in marker order', () => {
    const compiled = compileQuery('WHERE d = :domain AND l = :localpart AND d2 = :domain', 'mysql');
    const values = { address: "x' OR 1=1 --@e.com", localpart: 'x', domain: 'e.com' };
    expect(bindValues(compiled, values)).toEqual(['e.com', 'x', 'e.com']);
  });
});
