// Why one delivery attempt failed, shaped like mox/smtpclient `Error`: whether it is
// permanent, our stable code, and the remote's reply (code, enhanced code, command, text)
// as received. Only a remote 5yz (or a limit the remote announced) is permanent: an error
// we cannot classify defers and never bounces (maddy exterrors.IsTemporaryOrUnspec).
import { parseSmtpReply } from './smtp-reply.ts';

export const DeliveryErrorCodes = {
  /** TCP connect refused, unreachable, or the connection closed before the greeting. */
  ConnectFailed: 'DELIVERY_CONNECT_FAILED',
  /** A phase (connect, greeting, a command, DATA) took longer than its timeout. */
  Timeout: 'DELIVERY_TIMEOUT',
  /** The remote answered with a 4yz or 5yz reply (greeting, MAIL, RCPT, DATA). */
  Rejected: 'DELIVERY_REJECTED',
  /** The STARTTLS handshake failed (RFC 3207). */
  TlsFailed: 'DELIVERY_TLS_FAILED',
  /** The connection dropped in the middle of a transaction. */
  ConnectionLost: 'DELIVERY_CONNECTION_LOST',
  /** The remote said something that is not SMTP, or out of sequence. */
  Protocol: 'DELIVERY_PROTOCOL_ERROR',
  /** RFC 1870 §6.1: the message is larger than the SIZE the remote announced. */
  TooBig: 'DELIVERY_SIZE_EXCEEDED',
  /** RFC 6531 §3.4: the message needs SMTPUTF8 and the remote does not offer it. */
  Smtputf8Unsupported: 'DELIVERY_SMTPUTF8_UNSUPPORTED',
  /** RFC 8689 §5: a REQUIRETLS message met a hop without verified TLS or without REQUIRETLS (550 5.7.30). */
  RequireTlsUnsupported: 'DELIVERY_REQUIRETLS_UNSUPPORTED',
  /** Reading the message body failed on our side. */
  MessageRead: 'DELIVERY_MESSAGE_READ_FAILED',
  /** The caller's signal aborted the attempt. */
  Aborted: 'DELIVERY_ABORTED',
  /** The pool is closing, or its wait queue is full. */
  PoolUnavailable: 'DELIVERY_POOL_UNAVAILABLE',
  /** Anything else: a bug or an unexpected failure; temporary by rule. */
  Internal: 'DELIVERY_INTERNAL',
} as const;

export type DeliveryErrorCode = (typeof DeliveryErrorCodes)[keyof typeof DeliveryErrorCodes];

export interface DeliveryErrorOptions {
  readonly permanent?: boolean;
  readonly smtpCode?: number;
  readonly enhanced?: string;
  /** The SMTP command that got the reply, e.g. 'RCPT TO', or the phase for a timeout. */
  readonly command?: string;
  /** The remote's reply line(s) as received. */
  readonly response?: string;
  readonly cause?: unknown;
}

export class DeliveryError extends Error {
  readonly code: DeliveryErrorCode;
  readonly permanent: boolean;
  readonly smtpCode?: number;
  readonly enhanced?: string;
  readonly command?: string;
  readonly response?: string;

  constructor(code: DeliveryErrorCode, message: string, options: DeliveryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.code = code;
    this.permanent = options.permanent ?? false;
    if (options.smtpCode !== undefined) this.smtpCode = options.smtpCode;
    if (options.enhanced !== undefined) this.enhanced = options.enhanced;
    if (options.command !== undefined) this.command = options.command;
    if (options.response !== undefined) this.response = options.response;
  }

  /**
   * An error for a remote reply: permanent exactly when the reply is 5yz (RFC 5321 §4.2.1),
   * enhanced code read from the text (RFC 3463). The message is the reply itself.
   */
  static fromReply(command: string, response: string, cause?: unknown): DeliveryError {
    const reply = parseSmtpReply(response);
    const code = reply.code ?? undefined;
    return new DeliveryError(DeliveryErrorCodes.Rejected, response, {
      permanent: code !== undefined && code >= 500 && code < 600,
      smtpCode: code,
      enhanced: reply.enhanced ?? undefined,
      command,
      response,
      cause,
    });
  }
}

/** True when `err` is a DeliveryError; callers then match on `code`. */
export function isDeliveryError(err: unknown): err is DeliveryError {
  return err instanceof DeliveryError;
}

/** Wraps anything thrown into a DeliveryError; what we cannot classify is temporary. */
export function toDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DeliveryError(DeliveryErrorCodes.Internal, message, { cause: err });
}
