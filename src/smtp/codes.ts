// Reply codes (RFC 5321 §4.2) paired with enhanced status codes (RFC 3463, registry in
// RFC 5248). Names carry both, so a reader sees on the wire what the code says.
import { SmtpError } from './smtp-error.ts';

type Reply = readonly [code: number, enhanced: string];

export const Replies = {
  /** RFC 5321 §4.2.2: requested action okay. */
  C250Ok: [250, '2.0.0'],
  /** Message accepted and queued. */
  C250Queued: [250, '2.6.0'],
  /** RFC 5321 §4.5.3.1.10: too many recipients (RFC 3463 5.3 "too many recipients" is 4.5.3). */
  C452TooManyRcpts: [452, '4.5.3'],
  /** Local error in processing (storage unavailable). */
  C451LocalErr: [451, '4.3.0'],
  /** RFC 3463 X.3.1: mail system full (the spool or database cannot write: ENOSPC, SQLITE_FULL). */
  C452SystemFull: [452, '4.3.1'],
  /** RFC 5321 §3.8 / RFC 3463 X.3.2: system not accepting network messages (shutting down). */
  C421ShuttingDown: [421, '4.3.2'],
  /** Service not available, closing channel; also used when a client IP is throttled. */
  C421Throttled: [421, '4.7.0'],
  /** RFC 3463 X.7.1: delivery not authorized, message refused (relay denied). */
  C554RelayDenied: [554, '5.7.1'],
  /** RFC 3463 X.1.1: bad destination mailbox address (a VERP return path whose token does not verify). */
  C550NoSuchUser: [550, '5.1.1'],
  /** Sender not allowed for this tenant. */
  C550SenderDenied: [550, '5.7.1'],
  /** RFC 4954 §6: authentication required. */
  C530AuthRequired: [530, '5.7.0'],
  /** RFC 4954 §6: authentication credentials invalid. */
  C535AuthFailed: [535, '5.7.8'],
  /** RFC 1870 §6.1 / RFC 3463 X.3.4: message too big for system. */
  C552TooBig: [552, '5.3.4'],
  /** RFC 3463 X.6.0: other or undefined media error (bare CR/LF, RFC 5321 §2.3.8). */
  C550BadContent: [550, '5.6.0'],
  /** RFC 3463 X.1.3: bad destination mailbox address syntax. */
  C501BadAddress: [501, '5.1.3'],
  /** RFC 3463 X.1.7: bad sender's mailbox address syntax. */
  C501BadSender: [501, '5.1.7'],
  /** RFC 3463 X.5.4: invalid command arguments. */
  C501BadArgs: [501, '5.5.4'],
  /** RFC 5321 §4.1.1.11: MAIL/RCPT parameter not recognized or not implemented. */
  C555ParamNotSupported: [555, '5.5.4'],
  /** RFC 6531 §3.5: SMTPUTF8 address without the SMTPUTF8 parameter. */
  C553NeedUtf8: [553, '5.6.7'],
  /** RFC 5321 §6.3 / RFC 3463 X.4.6: routing loop detected. */
  C554Loop: [554, '5.4.6'],
  /** Header section too large to process. */
  C552HeaderTooBig: [552, '5.6.0'],
} as const satisfies Record<string, Reply>;

export type ReplyName = keyof typeof Replies;

/** Builds the SmtpError for a named reply. */
export function smtpError(name: ReplyName, message: string, options: { cause?: unknown; userError?: boolean } = {}): SmtpError {
  const [code, enhanced] = Replies[name];
  return new SmtpError(code, enhanced, message, options);
}
