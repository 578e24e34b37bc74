import pg from 'pg';
import { driverTls, type SqlPool, type SqlPoolOptions, type SqlRow } from './sql-driver.js';

/** PostgreSQL through `pg`: its pool bounds the connections and replaces broken ones. */
export function openPostgresPool(options: SqlPoolOptions): SqlPool {
  const { server } = options;
  const ssl = driverTls(options);
  const pool = new pg.Pool({
    host: server.host,
    port: server.port,
    user: server.user,
    password: options.password ?? server.password,
    database: server.database,
    ...(ssl ? { ssl } : {}),
    max: options.maxConnections,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs,
    allowExitOnIdle: true,
    application_name: 'homing',
  });
  // An idle connection the server closed reports here; the pool has already dropped it, and
  // without a listener the error would end the process.
  pool.on('error', () => {});
  // Errors between queries (the server going away) are seen by the next query; the listener
  // only keeps them from ending the process.
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    async acquire() {
      const client = await pool.connect();
      return {
        async query(text, values) {
          const result = await client.query<SqlRow>({ text, values: [...values] });
          return result.rows;
        },
        release: () => client.release(),
        destroy: () => client.release(true),
      };
    },
    isServerError(error) {
      // A FATAL error ends the session (the server shutting down, an administrator's
      // pg_terminate_backend): the connection is gone, not the query wrong.
      return (
        error instanceof pg.DatabaseError && !['FATAL', 'PANIC'].includes(error.severity ?? '')
      );
    },
    close: () => pool.end(),
  };
}
