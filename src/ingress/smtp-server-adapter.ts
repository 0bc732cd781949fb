// The one place our code meets smtp-server's internals. Three adjustments:
// 1. smtp-server derives an enhanced status code from the numeric code alone (550 → 5.1.1),
//    which is wrong for most policy replies; its reply writer takes the enhanced code from
//    the front of our text instead.
// 2. It holds every greeting 100 ms to catch clients that talk first. That is worth it on
//    the MX side (a pregreet test, as Postfix's postscreen does) but on submission it only
//    adds latency, and with one connection per message it caps 20 sessions at 200 msg/s.
//    The delay becomes the listener's `greetingDelayMs` option.
// 3. Per-session limits smtp-server lacks (listener option `sessionLimits`): commands per
//    session, error replies per session, and a whole-session deadline that trickled bytes
//    cannot extend (the idle timeout restarts on every byte: slowloris).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SmtpError } from '../smtp/index.ts';

const ENHANCED_PREFIX = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;
let patched = false;

export type SessionLimitKind = 'commands' | 'errors' | 'session_time';

/** Listener option `sessionLimits`; 0 turns a limit off. */
export interface SessionLimits {
  // Mutable: a SIGHUP sets them in place; each session reads them as it goes.
  maxCommands: number;
  maxErrors: number;
  maxSessionMs: number;
  /** Called once per session that hits a limit, after the 421 went out. */
  readonly onLimit?: (kind: SessionLimitKind, remoteAddress: string) => void;
}

// smtp-server's own texts for limits it enforces, given our enhanced codes and wording.
const REWRITE_421 = new Map([
  // RFC 5321 §4.5.3.1.4: 512 octets at least; the parser stops at `maxCommandLength`.
  ['Error: Command line too long', '4.5.2 Line too long'],
]);

/** Installs the adjustments, once per process. */
export function installSmtpServerAdapter(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): unknown;
    _getEnhancedStatusCode(code: number, context?: unknown): string;
    init(): void;
    _onCommand(command: Buffer, callback: () => void): unknown;
  };
  const send = proto.send;
  proto.send = function patchedSend(this: unknown, code: number, data: unknown, context?: unknown) {
    if (code === 421 && typeof data === 'string' && REWRITE_421.has(data)) data = REWRITE_421.get(data);
    const tooManyErrors = code >= 400 && code !== 421 && countError(this as Conn);
    const m = typeof data === 'string' && context === undefined ? ENHANCED_PREFIX.exec(data) : null;
    if (m && m[1][0] === String(code)[0]) send.call(this, code, m[2], { __enhanced: m[1] });
    else send.call(this, code, data, context);
    // The error reply goes out first, then the closing 421, before any pipelined command runs.
    if (tooManyErrors) refuse(this as Conn, 'errors', '4.7.0 Too many errors');
  };
  const getEnhanced = proto._getEnhancedStatusCode;
  proto._getEnhancedStatusCode = function patchedGet(this: unknown, code: number, context?: unknown) {
    if (context && typeof context === 'object' && '__enhanced' in context) return (context as { __enhanced: string }).__enhanced;
    return getEnhanced.call(this, code, context);
  };
  const onCommand = proto._onCommand;
  proto._onCommand = function patchedOnCommand(this: unknown, command: Buffer, callback: () => void) {
    const conn = this as Conn;
    const max = conn._server.options.sessionLimits?.maxCommands ?? 0;
    // Lines discarded during a TLS upgrade (RFC 3207 §4.2 injection) are not commands.
    if (max > 0 && !conn._upgrading && !conn._closing && (conn.__commands = (conn.__commands ?? 0) + 1) > max) {
      return refuse(conn, 'commands', '4.7.0 Too many commands');
    }
    return onCommand.call(this, command, callback);
  };
  proto.init = function patchedInit(this: unknown) {
    const conn = this as Conn;
    conn.__commands = 0;
    conn.__errors = 0;
    const limits = conn._server.options.sessionLimits;
    if (limits?.maxSessionMs) armSessionDeadline(conn, limits.maxSessionMs);
    conn._setListeners(() => {
      const options = conn._server.options;
      if (options.maxClients && conn._server.connections.size > options.maxClients) {
        // RFC 3463 4.3.2: system not accepting network messages (Postfix says the same).
        return conn.send(421, `4.3.2 ${conn.name} Too many connected clients, try again in a moment`);
      }
      const delay = options.greetingDelayMs ?? 100;
      if (delay <= 0) return conn.connectionReady();
      setTimeout(() => conn.connectionReady(), delay).unref();
    });
  };
}

interface Conn {
  _server: { options: { maxClients?: number; greetingDelayMs?: number; sessionLimits?: SessionLimits }; connections: Set<unknown> };
  _socket: { once(event: 'close', fn: () => void): unknown };
  _setListeners(cb: () => void): void;
  _upgrading: boolean;
  _closing: boolean;
  _closed: boolean;
  _handlerPending?: boolean;
  _dataStream?: unknown;
  _parser?: { _dataMode?: boolean } | false;
  connectionReady(): void;
  _onClose(): void;
  send(code: number, data: string, context?: unknown): void;
  name: string;
  remoteAddress: string;
  __commands?: number;
  __errors?: number;
}

/** Sends the closing 421 (smtp-server closes the connection after any 421) and reports it. */
function refuse(conn: Conn, kind: SessionLimitKind, text: string): void {
  conn.send(421, text);
  conn._server.options.sessionLimits?.onLimit?.(kind, conn.remoteAddress);
}

/** Counts an error reply; true when it is the one that reaches the limit. */
function countError(conn: Conn): boolean {
  const max = conn._server?.options.sessionLimits?.maxErrors ?? 0;
  if (max <= 0 || conn._closing || conn._closed) return false;
  conn.__errors = (conn.__errors ?? 0) + 1;
  return conn.__errors === max;
}

// A deadline from the first byte that nothing extends. Node keeps timers of equal duration
// in one list, so 2,000 sessions cost one timer handle, not 2,000.
function armSessionDeadline(conn: Conn, ms: number): void {
  const expire = () => {
    if (conn._closing || conn._closed) return;
    // A reply we owe (a hook running, a message being stored) is sent first: no 250 is lost.
    const owed = conn._handlerPending || (conn._dataStream && conn._parser && !conn._parser._dataMode);
    if (owed) {
      timer = setTimeout(expire, 1000).unref();
      return;
    }
    refuse(conn, 'session_time', '4.4.2 Session time limit reached, closing connection');
  };
  let timer = setTimeout(expire, ms).unref();
  // Cleared when the session closes, whichever socket carried it: STARTTLS replaces the
  // plain socket, and a timer left on the old one kept every upgraded session in memory
  // for the whole session limit (found by the fuzzer: ~7.7 KB per STARTTLS session).
  const onClose = conn._onClose;
  conn._onClose = function closed(this: Conn) {
    clearTimeout(timer);
    return onClose.call(this);
  };
}

/** Turns anything thrown in a hook into the error shape smtp-server replies with. */
export function toServerError(err: unknown): Error & { responseCode: number } {
  if (err instanceof SmtpError) {
    return Object.assign(new Error(err.replyText), { responseCode: err.code });
  }
  return Object.assign(new Error('4.3.0 Temporary local problem, please try again later'), { responseCode: 451 });
}
