// What a message that arrived at a VERP return path is: a bounce (RFC 3464 report or a known
// text NDR), a complaint (RFC 5965), an automatic reply (RFC 3834), or none of these. The order
// of the checks is the decision: a delivery report is a bounce even though it carries
// `Auto-Submitted: auto-replied` (RFC 3464 §6.2 / RFC 3834 §5 ask reports to), and an MTA's
// recognised wording beats an auto-reply header for the same reason; an explicit auto-reply
// header beats a bounce guessed only from a MAILER-DAEMON sender or a subject.
import PostalMime, { addressParser } from 'postal-mime';
import type { Attachment, Email } from 'postal-mime';
import { parseFeedbackReport } from './arf.ts';
import { autoReplyReason } from './auto-reply.ts';
import { classifyBounce, specificStatus } from './classify-bounce.ts';
import type { BounceClass } from './classify-bounce.ts';
import { parseDeliveryStatus, parseFields, reportAddress, smtpCodeAtStart } from './delivery-status.ts';
import type { ReportAction } from './delivery-status.ts';
import { MAX_SCAN_CHARS, parseTextBounce, splitOriginal } from './text-bounce.ts';
import type { TextBounce } from './text-bounce.ts';

export interface BouncedRecipient {
  address: string;
  /** RFC 3463 enhanced status, e.g. '5.1.1'; a report's vague X.0.0 sharpened by its diagnostic. */
  status: string;
  /** RFC 3464 §2.3.3. Only 'failed' is a bounce; 'delayed' is a warning; the rest are successes. */
  action: ReportAction;
  smtpCode: number | null;
  /** The remote's reply or the report's explanation, as written (whitespace collapsed). */
  diagnostic: string;
  /** Meaningful for failed and delayed; successes are 'soft' so that nothing suppresses on them. */
  class: BounceClass;
  remoteMta?: string;
}

export type InboundReport =
  | {
    kind: 'bounce';
    recipients: BouncedRecipient[];
    reportingMta?: string;
    /** Message-ID of the returned original, angle brackets included. */
    originalMessageId?: string;
    /** The returned original's header fields, lower-case names, first occurrence. */
    originalHeaders?: Record<string, string>;
  }
  | {
    kind: 'complaint';
    /** RFC 5965 Feedback-Type, lower case. */
    feedbackType: string;
    /** Original-Rcpt-To, else the To of the original; empty when the provider redacted both. */
    recipients: string[];
    originalMessageId?: string;
    userAgent?: string;
    sourceIp?: string;
    arrivalDate?: string;
    /** Feedback-ID header of the original (Gmail FBL). */
    feedbackId?: string;
    originalMailFrom?: string;
    reportedDomain?: string;
    originalHeaders?: Record<string, string>;
  }
  | { kind: 'auto_reply'; reason: string }
  | { kind: 'unknown' };

// Bounds, so that any input costs bounded time: reports come before the returned original
// (RFC 3464 §2, RFC 5965 §2), so cutting a huge message loses only the tail of the original.
// postal-mime spends up to ~25 ms on 128 KiB of hostile headers, and ~20 µs per MIME part, so
// both are capped to keep one parse well inside the 200 ms the fuzz test allows.
const MAX_PARSE_BYTES = 128 * 1024;
const MAX_DELIMITER_LINES = 200;
// The top header section is what postal-mime works hardest on (address lists, encoded words);
// RFC 5322 §2.1.1 allows 998 octets a line, real bounces carry a few KiB of header.
const MAX_HEADER_BYTES = 32 * 1024;
const MAX_HEADER_LINE_BYTES = 4 * 1024;
const MAX_REPORT_PART_BYTES = 128 * 1024;
const MAX_ORIGINAL_HEADER_BYTES = 64 * 1024;
const MAX_ORIGINAL_FIELDS = 200;
const MAX_NESTING = 40;

const DSN_TYPES: ReadonlySet<string> = new Set(['message/delivery-status', 'message/global-delivery-status']);
const ORIGINAL_TYPES: ReadonlySet<string> = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers']);
const UNKNOWN: InboundReport = Object.freeze({ kind: 'unknown' });

/**
 * Parses a message received at a return path. Never throws and never rejects: input that is
 * not a message, or a message that is none of the known kinds, gives `{ kind: 'unknown' }`.
 */
export async function parseInboundReport(raw: Buffer): Promise<InboundReport> {
  try {
    return await parse(raw);
  } catch {
    return UNKNOWN;
  }
}

async function parse(raw: Buffer): Promise<InboundReport> {
  const email: Email = await PostalMime.parse(boundedInput(raw), {
    // The returned original stays an attachment: its text is not the bounce's text.
    forceRfc822Attachments: true,
    maxNestingDepth: MAX_NESTING,
    attachmentEncoding: 'arraybuffer',
  });
  const partOf = (types: ReadonlySet<string>): Attachment | undefined => email.attachments.find((a) => types.has(a.mimeType));
  const subject = email.subject ?? '';
  const text = bodyText(email);
  const original = originalHeaders(partOf(ORIGINAL_TYPES), text);
  const originalMessageId = original?.['message-id'];
  const originalFields = {
    ...(originalMessageId ? { originalMessageId } : {}),
    ...(original ? { originalHeaders: original } : {}),
  };

  // RFC 6522 / RFC 3464 (RFC 6533 for the global form): the machine-readable report decides.
  const dsnPart = partOf(DSN_TYPES);
  const textBounce = (): TextBounce | undefined => parseTextBounce({
    text,
    subject,
    from: fromText(email),
    failedRecipients: failedRecipients(email),
  });
  if (dsnPart) {
    const status = parseDeliveryStatus(partText(dsnPart, MAX_REPORT_PART_BYTES));
    if (status.recipients.length) {
      const human = textBounce();
      const recipients = status.recipients.map((r): BouncedRecipient => {
        const told = human?.recipients.find((t) => t.address.toLowerCase() === r.address.toLowerCase());
        // RFC 3464 §2.3.6: Diagnostic-Code is optional; the human part may still quote the reply.
        const diagnostic = r.diagnostic || told?.diagnostic || '';
        const smtpCode = smtpCodeAtStart(diagnostic) ?? (r.diagnostic ? null : told?.smtpCode ?? null);
        const remoteMta = r.remoteMta ?? told?.remoteMta;
        // `Status: 5.0.0` beside `550 5.1.1 …` reports the precise code (RFC 3463 §3.1: X.0.0 is "other").
        const status = specificStatus(r.status, diagnostic);
        return {
          address: r.address,
          status,
          action: r.action,
          smtpCode,
          diagnostic,
          class: classifyBounce({ status, smtpCode, diagnostic }),
          ...(remoteMta ? { remoteMta } : {}),
        };
      });
      return { kind: 'bounce', recipients, ...(status.reportingMta ? { reportingMta: status.reportingMta } : {}), ...originalFields };
    }
  }

  // RFC 5965 §2: multipart/report; report-type=feedback-report.
  const arfPart = email.attachments.find((a) => a.mimeType === 'message/feedback-report');
  if (arfPart) {
    const report = parseFeedbackReport(partText(arfPart, MAX_REPORT_PART_BYTES));
    const recipients = report.originalRcptTo.length ? report.originalRcptTo : addressesOf(original?.['to']);
    const feedbackId = original?.['feedback-id'];
    const { originalRcptTo: _, version: __, ...rest } = report;
    return { kind: 'complaint', ...rest, recipients, ...originalFields, ...(feedbackId ? { feedbackId } : {}) };
  }

  const bounce = textBounce();
  if (bounce?.recognised) return bounceFrom(bounce, originalFields);
  // RFC 8098 read receipts and delivery notices are automatic messages, not failures.
  if (email.attachments.some((a) => a.mimeType === 'message/disposition-notification')) return { kind: 'auto_reply', reason: 'disposition-notification' };
  const reason = autoReplyReason(email.headers, subject);
  // Bounces carry Auto-Submitted too (RFC 3834 §5): only the other signals outrank a weak guess.
  if (reason && !reason.startsWith('auto-submitted')) return { kind: 'auto_reply', reason };
  if (bounce) return bounceFrom(bounce, originalFields);
  if (reason) return { kind: 'auto_reply', reason };
  return UNKNOWN;
}

function bounceFrom(bounce: TextBounce, originalFields: { originalMessageId?: string; originalHeaders?: Record<string, string> }): InboundReport {
  const recipients = bounce.recipients.map((r): BouncedRecipient => ({
    address: r.address,
    status: r.status,
    action: r.action,
    smtpCode: r.smtpCode,
    diagnostic: r.diagnostic,
    class: classifyBounce(r),
    ...(r.remoteMta ? { remoteMta: r.remoteMta } : {}),
  }));
  return { kind: 'bounce', recipients, ...(bounce.reportingMta ? { reportingMta: bounce.reportingMta } : {}), ...originalFields };
}

/**
 * The part of the input worth parsing: the first MAX_PARSE_BYTES, bare CRs made line ends (RFC
 * 5321 §2.3.8 forbids them; postal-mime would read a run of them as one endless header), and
 * cut before the MAX_DELIMITER_LINES-th line that starts with "--" (a real report has a handful
 * of MIME parts; thousands only cost time).
 */
function boundedInput(raw: Buffer): Buffer {
  let text = raw.subarray(0, MAX_PARSE_BYTES).toString('latin1');
  if (/\r(?!\n)/.test(text)) text = text.replace(/\r(?!\n)/g, '\n');
  text = boundedHeader(text);
  let at = text.startsWith('--') ? 0 : text.indexOf('\n--');
  for (let lines = 1; at >= 0; lines++) {
    if (lines >= MAX_DELIMITER_LINES) {
      text = text.slice(0, at);
      break;
    }
    at = text.indexOf('\n--', at + 1);
  }
  return Buffer.from(text, 'latin1');
}

/** The top header section cut to MAX_HEADER_BYTES, each of its lines to MAX_HEADER_LINE_BYTES. */
function boundedHeader(text: string): string {
  const blank = /\r?\n\r?\n/.exec(text);
  const end = blank ? blank.index : text.length;
  if (end <= MAX_HEADER_LINE_BYTES) return text;
  const kept: string[] = [];
  let size = 0;
  for (const line of text.slice(0, end).split('\n')) {
    const cut = line.slice(0, MAX_HEADER_LINE_BYTES);
    if (size + cut.length > MAX_HEADER_BYTES) break;
    kept.push(cut);
    size += cut.length + 1;
  }
  return kept.join('\n') + text.slice(end);
}

/** The text a person would read: the plain part, else the HTML part reduced to text. */
function bodyText(email: Email): string {
  if (email.text && email.text.trim()) return email.text.slice(0, MAX_SCAN_CHARS);
  if (!email.html) return '';
  return email.html.slice(0, MAX_SCAN_CHARS)
    .replace(/<(?:br|\/p|\/div|\/tr|\/li|\/h\d|\/td)\b[^<>]{0,200}>/gi, '\n')
    .replace(/<[^<>]{0,2000}>/g, '')
    .replace(/&nbsp;/gi, ' ').replace(/&lt;/gi, '<').replace(/&gt;/gi, '>').replace(/&quot;/gi, '"').replace(/&#39;/g, "'").replace(/&amp;/gi, '&');
}

function partText(part: Attachment, maxBytes: number): string {
  const content = part.content;
  const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content instanceof ArrayBuffer ? content : content.buffer, content instanceof ArrayBuffer ? 0 : content.byteOffset, content.byteLength);
  // RFC 6533 §3: the global report types are UTF-8; the classic ones are ASCII, a subset.
  return bytes.subarray(0, maxBytes).toString('utf8');
}

/**
 * Header fields of the returned original: from its MIME part, else from the copy that Exim,
 * qmail and Exchange paste below a marker line in the text. Undefined when neither has a
 * header section that looks like one.
 */
function originalHeaders(part: Attachment | undefined, text: string): Record<string, string> | undefined {
  const source = part ? partText(part, MAX_ORIGINAL_HEADER_BYTES) : splitOriginal(text).original;
  if (!source) return undefined;
  const normalised = source.replace(/\r\n?/g, '\n').replace(/^\n+/, '');
  const end = normalised.indexOf('\n\n');
  const fields = parseFields(end < 0 ? normalised : normalised.slice(0, end));
  if (!fields.some((f) => f.name === 'message-id' || f.name === 'from' || f.name === 'received' || f.name.startsWith('x-postline-'))) return undefined;
  // No prototype: a field named "__proto__" or "constructor" is just a field.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const f of fields) {
    if (f.name in out) continue;
    out[f.name] = f.value;
    if (++count >= MAX_ORIGINAL_FIELDS) break;
  }
  return out;
}

function addressesOf(value: string | undefined): string[] {
  if (!value) return [];
  const list = addressParser(value.slice(0, 4000), { flatten: true });
  const out: string[] = [];
  for (const m of list) {
    const address = m.address ? reportAddress(m.address) : '';
    if (address.includes('@') && !out.includes(address)) out.push(address);
  }
  return out.slice(0, 100);
}

function fromText(email: Email): string {
  const from = email.from;
  if (!from) return '';
  return from.address ? `${from.name} <${from.address}>` : from.name;
}

/** X-Failed-Recipients (Exim, Gmail): comma-separated addresses, possibly repeated. */
function failedRecipients(email: Email): string[] {
  return email.headers
    .filter((h) => h.key === 'x-failed-recipients')
    .flatMap((h) => h.value.slice(0, 4000).split(','))
    .map((a) => a.trim())
    .filter(Boolean)
    .slice(0, 100);
}
