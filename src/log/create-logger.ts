import pino, { type Logger } from 'pino';

/**
 * Defence in depth (SECURITY.md, Secrets): should a request, header set or config object ever
 * be logged whole, these fields are censored. test/security/no-secrets-in-logs.test.ts proves
 * that no secret reaches the log in normal use.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'req.headers.authorization', 'req.headers.cookie', 'request.headers.authorization', 'headers.authorization', 'authorization',
  'password', 'secret', 'token', 'admin_token', 'config.admin_token', 'config.security.secret_key', 'security.secret_key',
  '*.password', '*.secret', '*.token', '*.admin_token',
];

/** JSON lines on stderr; asynchronous so logging never waits on the terminal. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base }, redact: { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' } }, pino.destination({ fd: 2, sync: false }));
}
