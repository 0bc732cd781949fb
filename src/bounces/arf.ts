// Abuse Reporting Format (RFC 5965): a complaint a mailbox provider sends through its feedback
// loop when a recipient pressed "this is spam". The machine-readable part is
// message/feedback-report; the third part is the original message (or its header section),
// which is how the complaint is matched to our message when the recipient was redacted.
import { fieldValue, parseFields, reportAddress, splitTyped } from './delivery-status.ts';
import type { ReportField } from './delivery-status.ts';

export interface FeedbackReport {
  /** RFC 5965 §3.1 Feedback-Type, lower case ('abuse', 'fraud', 'virus', 'other', 'not-spam'…). */
  readonly feedbackType: string;
  readonly userAgent?: string;
  readonly version?: string;
  readonly originalMailFrom?: string;
  /** Every Original-Rcpt-To (RFC 5965 §3.2, may repeat), normalised. */
  readonly originalRcptTo: string[];
  readonly arrivalDate?: string;
  readonly sourceIp?: string;
  readonly reportedDomain?: string;
}

const MAX_RECIPIENTS = 100;

/**
 * Parses the body of a message/feedback-report part. A report without Feedback-Type (required
 * by RFC 5965 §3.1) is read as 'other', the type RFC 5965 §7.3 registers for the unclassified.
 */
export function parseFeedbackReport(body: string): FeedbackReport {
  // RFC 5965 §3.1: one block of fields; providers sometimes add blank lines, so all are read.
  const fields: ReportField[] = parseFields(body.replace(/\r?\n[ \t]*\r?\n/g, '\n'));
  const feedbackType = (fieldValue(fields, 'feedback-type') ?? 'other').split(/[\s;]/)[0].toLowerCase().slice(0, 40) || 'other';
  const originalRcptTo: string[] = [];
  for (const f of fields) {
    if (f.name !== 'original-rcpt-to' || originalRcptTo.length >= MAX_RECIPIENTS) continue;
    const address = reportAddress(f.value);
    if (address.includes('@') && !originalRcptTo.includes(address)) originalRcptTo.push(address);
  }
  const mailFrom = fieldValue(fields, 'original-mail-from');
  const typed = (name: string): string | undefined => {
    const v = fieldValue(fields, name);
    return v ? splitTyped(v).value || undefined : undefined;
  };
  const out: { -readonly [K in keyof FeedbackReport]: FeedbackReport[K] } = { feedbackType, originalRcptTo };
  const userAgent = fieldValue(fields, 'user-agent');
  if (userAgent) out.userAgent = userAgent;
  const version = fieldValue(fields, 'version');
  if (version) out.version = version;
  if (mailFrom) out.originalMailFrom = reportAddress(mailFrom);
  // RFC 5965 §3.2 Arrival-Date; "Received-Date" is the name drafts of ARF used.
  const arrivalDate = fieldValue(fields, 'arrival-date') ?? fieldValue(fields, 'received-date');
  if (arrivalDate) out.arrivalDate = arrivalDate;
  const sourceIp = typed('source-ip');
  if (sourceIp) out.sourceIp = sourceIp.replace(/^\[|\]$/g, '');
  const reportedDomain = typed('reported-domain');
  if (reportedDomain) out.reportedDomain = reportedDomain.toLowerCase();
  return out;
}
