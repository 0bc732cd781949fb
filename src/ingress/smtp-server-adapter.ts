// The one place our code meets smtp-server's internals. Two adjustments:
// 1. smtp-server derives an enhanced status code from the numeric code alone (550 → 5.1.1),
//    which is wrong for most policy replies; its reply writer takes the enhanced code from
//    the front of our text instead.
// 2. It holds every greeting 100 ms to catch clients that talk first. That is worth it on
//    the MX side (a pregreet test, as Postfix's postscreen does) but on submission it only
//    adds latency, and with one connection per message it caps 20 sessions at 200 msg/s.
//    The delay becomes the listener's `greetingDelayMs` option.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SmtpError } from '../smtp/index.ts';

const ENHANCED_PREFIX = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;
let patched = false;

/** Installs both adjustments, once per process. */
export function installSmtpServerAdapter(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): unknown;
    _getEnhancedStatusCode(code: number, context?: unknown): string;
    init(): void;
  };
  const send = proto.send;
  proto.send = function patchedSend(this: unknown, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string' && context === undefined) {
      const m = ENHANCED_PREFIX.exec(data);
      if (m && m[1][0] === String(code)[0]) {
        return send.call(this, code, m[2], { __enhanced: m[1] });
      }
    }
    return send.call(this, code, data, context);
  };
  const getEnhanced = proto._getEnhancedStatusCode;
  proto._getEnhancedStatusCode = function patchedGet(this: unknown, code: number, context?: unknown) {
    if (context && typeof context === 'object' && '__enhanced' in context) return (context as { __enhanced: string }).__enhanced;
    return getEnhanced.call(this, code, context);
  };
  type Conn = {
    _server: { options: { maxClients?: number; greetingDelayMs?: number }; connections: Set<unknown> };
    _setListeners(cb: () => void): void;
    connectionReady(): void;
    send(code: number, data: string, context?: unknown): void;
    name: string;
  };
  proto.init = function patchedInit(this: unknown) {
    const conn = this as Conn;
    conn._setListeners(() => {
      const options = conn._server.options;
      if (options.maxClients && conn._server.connections.size > options.maxClients) {
        return conn.send(421, `${conn.name} Too many connected clients, try again in a moment`, false);
      }
      const delay = options.greetingDelayMs ?? 100;
      if (delay <= 0) return conn.connectionReady();
      setTimeout(() => conn.connectionReady(), delay).unref();
    });
  };
}

/** Turns anything thrown in a hook into the error shape smtp-server replies with. */
export function toServerError(err: unknown): Error & { responseCode: number } {
  if (err instanceof SmtpError) {
    return Object.assign(new Error(err.replyText), { responseCode: err.code });
  }
  return Object.assign(new Error('4.3.0 Temporary local problem, please try again later'), { responseCode: 451 });
}
