/**
 * An SMTP reply we decided to send: the numeric code, the RFC 3463 enhanced code, and text
 * that is safe to show the client. `cause` is for the log only and never reaches the wire.
 */
export class SmtpError extends Error {
  readonly code: number;
  readonly enhanced: string;
  /** A mistake by the client (bad address, relay attempt): logged at a lower level. */
  readonly userError: boolean;

  constructor(code: number, enhanced: string, message: string, options: { cause?: unknown; userError?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SmtpError';
    this.code = code;
    this.enhanced = enhanced;
    this.userError = options.userError ?? code >= 500;
  }

  /** RFC 5321 §4.2.1: 4yz is transient, 5yz permanent. */
  get temporary(): boolean {
    return this.code >= 400 && this.code < 500;
  }

  /** The reply text as it goes on the wire, enhanced code first (RFC 2034 §4). */
  get replyText(): string {
    return `${this.enhanced} ${this.message}`;
  }
}
