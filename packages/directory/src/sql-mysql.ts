import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { SqlPool, SqlPoolOptions, SqlRow } from './sql-driver.js';

/** MySQL and MariaDB through `mysql2`, with server-side prepared statements for every query. */
export function openMysqlPool(options: SqlPoolOptions): SqlPool {
  const { server } = options;
  const ssl = mysqlTls(options);
  const pool = mysql.createPool({
    host: server.host,
    port: server.port,
    user: server.user,
    password: options.password ?? server.password,
    database: server.database,
    ...(ssl ? { ssl } : {}),
    connectionLimit: options.maxConnections,
    maxIdle: options.maxConnections,
    idleTimeout: options.idleTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    enableKeepAlive: true,
    // Text columns come back as strings; dates and big numbers would otherwise be objects.
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  return {
    async acquire() {
      const connection = await pool.getConnection();
      return {
        async query(text, values) {
          const [rows] = await connection.execute(text, [...values]);
          return Array.isArray(rows) ? (rows as SqlRow[]) : [];
        },
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      };
    },
    isServerError(error) {
      // The server's own errors carry a SQLSTATE and leave the connection usable.
      const e = error as { sqlState?: unknown; fatal?: unknown };
      return typeof e?.sqlState === 'string' && e.fatal !== true;
    },
    close: () => pool.end(),
  };
}

/** mysql2 checks the certificate's name against the URL's host itself, when it is a name. */
function mysqlTls(options: SqlPoolOptions): mysql.SslOptions | undefined {
  if (!options.server.tls) return undefined;
  const { verify, caFile } = options.tls;
  return {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: verify,
    verifyIdentity: verify,
    ...(caFile ? { ca: readFileSync(caFile) } : {}),
  };
}
