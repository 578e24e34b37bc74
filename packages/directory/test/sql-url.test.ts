import { describe, expect, it } from 'vitest';
import { parseSqlUrl, SqlUrlError } from '../src/sql-url.js';

describe('parseSqlUrl', () => {
  it('reads a PostgreSQL URL with defaults', () => {
    expect(parseSqlUrl('postgres://homing:s%40cret@db1.example.net/mail')).toEqual({
      dialect: 'postgres',
      host: 'db1.example.net',
      port: 5432,
      user: 'homing',
      password: 's@cret',
      database: 'mail',
      tls: false,
      label: 'db1.example.net:5432/mail',
    });
  });

  it('reads a MySQL URL with a port, an IPv6 host and TLS', () => {
    const server = parseSqlUrl('mysql://u@[::1]:3307/mail?ssl=true');
    expect(server).toMatchObject({ dialect: 'mysql', host: '::1', port: 3307, tls: true });
    expect(server.password).toBeUndefined();
  });

  it.each([
    ['sslmode=require', true],
    ['sslmode=verify-full', true],
    ['sslmode=disable', false],
    ['ssl=false', false],
  ])('%s → tls %s', (query, tls) => {
    expect(parseSqlUrl(`postgresql://u:p@h:1/d?${query}`).tls).toBe(tls);
    expect(parseSqlUrl(`mariadb://u:p@h:1/d?${query}`).tls).toBe(tls);
  });

  const hostile: [string, string][] = [
    ['not a URL', 'db1.example.net'],
    ['other scheme', 'ldap://h/d'],
    ['no database', 'postgres://u:p@h:5432'],
    ['two path segments', 'postgres://u:p@h/a/b'],
    ['unknown option', 'postgres://u:p@h/d?sslcert=/x'],
    ['bad sslmode', 'postgres://u:p@h/d?sslmode=prefer'],
    ['fragment', 'postgres://u:p@h/d#x'],
  ];
  it.each(hostile)('refuses %s, without repeating the password', (_name, url) => {
    let error: unknown;
    try {
      parseSqlUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SqlUrlError);
    expect(String(error)).not.toContain(':p@');
  });
});
