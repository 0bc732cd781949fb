import pino, { type Logger } from 'pino';

/** JSON lines on stderr; asynchronous so logging never waits on the terminal. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base } }, pino.destination({ fd: 2, sync: false }));
}
