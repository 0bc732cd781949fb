// The one place our SmtpError meets smtp-server. smtp-server derives an enhanced status
// code from the numeric code alone (550 → 5.1.1), which is wrong for most policy replies;
// we teach its reply writer to take the enhanced code from the front of our text instead.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SmtpError } from '../smtp/index.ts';

const ENHANCED_PREFIX = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;
let patched = false;

/** Installs the enhanced-code override once per process. */
export function installReplyAdapter(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): unknown;
    _getEnhancedStatusCode(code: number, context?: unknown): string;
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
}

/** Turns anything thrown in a hook into the error shape smtp-server replies with. */
export function toServerError(err: unknown): Error & { responseCode: number } {
  if (err instanceof SmtpError) {
    return Object.assign(new Error(err.replyText), { responseCode: err.code });
  }
  return Object.assign(new Error('4.3.0 Temporary local problem, please try again later'), { responseCode: 451 });
}
