import { hostname } from 'node:os';
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from './config/schema.js';
import { BufferedLog } from './log-buffer.js';

/** Keys that may carry secrets; pino replaces their values wherever they appear. */
export const redactedPaths = [
  'password',
  '*.password',
  'bind_password',
  '*.bind_password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
];

/**
 * Logs to stdout with synchronous writes, so the last lines before an exit are not lost; info
 * lines and below gather for `log.flush_interval` and go out in one write (see BufferedLog).
 */
export function createLogger(
  config: Config,
  destination: DestinationStream = pino.destination({ dest: 1, sync: true }),
): Logger {
  const { level, format, flush_interval: flushInterval } = config.log;
  const isTty = process.stdout.isTTY === true;
  const usePretty = format === 'pretty' || (format === 'auto' && isTty);
  const options = {
    level,
    base: { node: config.node_name ?? hostname() },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  // pino-pretty as a stream in this thread: no worker, and nothing lost when the process exits.
  const stream = usePretty
    ? pretty({ destination: destination as NodeJS.WritableStream, colorize: isTty, sync: true })
    : destination;
  // A terminal is someone watching: every line at once there.
  const buffered = flushInterval > 0 && !usePretty;
  return pino(options, buffered ? new BufferedLog(stream, flushInterval) : stream);
}
