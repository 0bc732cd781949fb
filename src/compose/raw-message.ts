// A ready-made RFC 5322 message (POST /api/v1/messages/raw), checked as SMTP submission
// checks DATA: the same intake (bare CR or LF refused, RFC 5321 §2.3.8; size and header
// limits), a From: in the tenant's domains, Bcc and X-Postline-* removed, Message-ID and
// Date added when missing (RFC 6409 §8). Nothing is normalised: what passes is sent as is.
import addressparser from 'nodemailer/lib/addressparser';
import { MessageIntake, rfc5322Date } from '../ingress/index.ts';
import { domainOf } from '../smtp/index.ts';
import { ComposeError } from './compose-error.ts';

export interface RawMessageOptions {
  readonly id: string;
  readonly hostname: string;
  readonly date: Date;
  readonly maxMessageBytes: number;
  readonly maxHeaderBytes: number;
  /** True when every domain is one of the tenant's sending domains (or a subdomain of one). */
  readonly ownsDomains: (domains: readonly string[]) => boolean;
}

export interface PreparedRawMessage {
  readonly raw: Buffer;
  readonly headerSize: number;
  readonly messageIdHeader: string;
  readonly subject: string | null;
  readonly fromHeader: string;
}

const CONTROL_PREFIX = 'x-postline-';

/** Checks and completes a raw message; throws ComposeError with pointer `/data`. */
export async function prepareRawMessage(data: Buffer, options: RawMessageOptions): Promise<PreparedRawMessage> {
  const facts: { messageId: string | null; subject: string | null; from: string | null } = { messageId: null, subject: null, from: null };
  const intake = new MessageIntake({
    maxMessageBytes: options.maxMessageBytes,
    maxHeaderBytes: options.maxHeaderBytes,
    rewriteHeaders: (headers) => {
      facts.messageId = headers.get('message-id') ?? null;
      facts.subject = headers.get('subject') ?? null;
      const from = facts.from = headers.get('from') ?? null;
      if (!from) throw new ComposeError('RAW_NO_FROM', 'unprocessable', '/data', 'the message has no From: header (RFC 5322 §3.6 requires one)');
      const domains = addressparser(from, { flatten: true }).map((a) => domainOf(a.address ?? '')).filter(Boolean);
      if (domains.length === 0) throw new ComposeError('RAW_FROM_INVALID', 'unprocessable', '/data', 'the From: header holds no valid address');
      if (!options.ownsDomains(domains)) {
        throw new ComposeError('SENDER_DOMAIN_NOT_OWNED', 'unprocessable', '/data', `From: ${from.slice(0, 100)} is not in one of your sending domains`);
      }
      const parts = headers.fields.filter((f) => f.key !== 'bcc' && !f.key.startsWith(CONTROL_PREFIX)).map((f) => f.raw);
      if (!facts.messageId) {
        facts.messageId = `<${options.id}@${options.hostname}>`;
        parts.push(Buffer.from(`Message-ID: ${facts.messageId}\r\n`));
      }
      if (!headers.get('date')) parts.push(Buffer.from(`Date: ${rfc5322Date(options.date)}\r\n`));
      return Buffer.concat(parts);
    },
  });
  const chunks: Buffer[] = [];
  intake.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    intake.once('end', resolve);
    intake.once('error', reject);
  });
  intake.end(data);
  await done;
  if (intake.problem === 'bare-newline') {
    // RFC 5321 §2.3.8, as on SMTP: refused, not repaired, so nothing smuggles through.
    throw new ComposeError('RAW_BARE_NEWLINE', 'invalid', '/data', 'the message contains a bare CR or LF; lines must end with CRLF (RFC 5321 §2.3.8)');
  }
  if (intake.problem === 'too-big') throw new ComposeError('MESSAGE_TOO_LARGE', 'too-large', '/data', `the message exceeds the maximum size of ${options.maxMessageBytes} bytes`);
  if (intake.problem === 'header-too-big') throw new ComposeError('RAW_HEADER_TOO_LARGE', 'too-large', '/data', `the header section exceeds ${options.maxHeaderBytes} bytes`);
  if (intake.problem === 'rejected') {
    const err = intake.problemError;
    throw err instanceof ComposeError ? err : new ComposeError('RAW_INVALID', 'unprocessable', '/data', 'the message could not be read', { cause: err });
  }
  const raw = Buffer.concat(chunks);
  if (raw.length > options.maxMessageBytes) throw new ComposeError('MESSAGE_TOO_LARGE', 'too-large', '/data', `the message exceeds the maximum size of ${options.maxMessageBytes} bytes`);
  return { raw, headerSize: intake.headerSize, messageIdHeader: facts.messageId!, subject: facts.subject, fromHeader: facts.from! };
}
