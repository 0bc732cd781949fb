// RFC 3464 message/delivery-status and RFC 6533 message/global-delivery-status parsing.
// Pure and forgiving: remote MTAs get the syntax wrong in many small ways (bare LF, extra blank
// lines, comments after the status), so every field is optional here and the caller decides
// what a usable recipient is. The field syntax is RFC 822 header syntax (RFC 3464 §2.1), so
// the same `parseFields` also reads feedback reports (RFC 5965 §3.1) and original headers.
import { parseAddress } from '../smtp/index.ts';

export type ReportAction = 'failed' | 'delayed' | 'relayed' | 'expanded' | 'delivered';

export interface ReportField {
  /** Lower-case field name. */
  readonly name: string;
  /** Unfolded value, trimmed. */
  readonly value: string;
}

export interface DeliveryStatusRecipient {
  /** Final-Recipient (or Original-Recipient when that is all there is), normalised by `reportAddress`. */
  readonly address: string;
  readonly originalRecipient?: string;
  /** RFC 3464 §2.3.3, lower case; derived from the status class when missing or unknown. */
  readonly action: ReportAction;
  /** RFC 3463 status as written, or derived from the diagnostic / action when missing. */
  readonly status: string;
  /** Diagnostic-Code without its type, e.g. '550 5.1.1 No such user'; '' when absent. */
  readonly diagnostic: string;
  /** Diagnostic-Code type, lower case, e.g. 'smtp', 'x-postfix'. */
  readonly diagnosticType?: string;
  /** Remote-MTA without its type (`dns; mx.example` → `mx.example`). */
  readonly remoteMta?: string;
  readonly lastAttemptDate?: string;
  readonly willRetryUntil?: string;
}

export interface DeliveryStatus {
  /** Reporting-MTA without its type. */
  readonly reportingMta?: string;
  readonly receivedFromMta?: string;
  readonly arrivalDate?: string;
  readonly originalEnvelopeId?: string;
  readonly recipients: DeliveryStatusRecipient[];
}

// Bounds: a report body is a few hundred octets per recipient. Beyond these a report is junk
// and what came before is all we look at (linear work on any input).
const MAX_FIELDS = 2000;
const MAX_RECIPIENTS = 500;
const MAX_VALUE_CHARS = 2000;
const MAX_NAME_CHARS = 80;

// RFC 3463 §2: class "." subject "." detail, subject and detail 1 to 3 digits.
const STATUS_AT_START = /^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)/;
const STATUS_ANYWHERE = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/;
// RFC 5321 §4.2: a reply starts with a three-digit code then SP, "-" or end of line; some
// MTAs write "554:" (Yahoo) or "#550" (Exchange), so those are allowed too.
const SMTP_CODE_AT_START = /^\s*#?([245][0-5]\d)(?=[\s:-]|$)/;
const ACTIONS: ReadonlySet<string> = new Set(['failed', 'delayed', 'relayed', 'expanded', 'delivered']);
const ACTION_BY_CLASS = { '2': 'delivered', '4': 'delayed', '5': 'failed' } as const;
const FIELD_NAME = /^[!-9;-~]+$/; // RFC 5322 §3.6.8 ftext: printable US-ASCII except ":"

/**
 * RFC 822-style fields of one block (a header section, or one group of a report). Folded lines
 * are unfolded (RFC 5322 §2.2.3); lines that are not fields are skipped. Never throws.
 */
export function parseFields(block: string): ReportField[] {
  const fields: ReportField[] = [];
  let name = '';
  let value = '';
  const flush = (): void => {
    if (name && fields.length < MAX_FIELDS) fields.push({ name, value: collapse(value) });
    name = '';
    value = '';
  };
  for (const line of block.split('\n')) {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.startsWith(' ') || text.startsWith('\t')) {
      // RFC 5322 §2.2.3: a continuation line belongs to the field above it.
      if (name && value.length < MAX_VALUE_CHARS) value += ' ' + text.trim();
      continue;
    }
    flush();
    if (fields.length >= MAX_FIELDS) break;
    const colon = text.indexOf(':');
    if (colon <= 0 || colon > MAX_NAME_CHARS) continue;
    const candidate = text.slice(0, colon).trim();
    if (!FIELD_NAME.test(candidate)) continue;
    name = candidate.toLowerCase();
    value = text.slice(colon + 1, colon + 1 + MAX_VALUE_CHARS);
  }
  flush();
  return fields;
}

/** The first value of a field, or undefined. */
export function fieldValue(fields: readonly ReportField[], name: string): string | undefined {
  return fields.find((f) => f.name === name)?.value || undefined;
}

/**
 * Splits `type; value` (RFC 3464 §2.1.2 address-type, diagnostic-type, mta-name-type).
 * Without a `;` the whole text is the value.
 */
export function splitTyped(value: string): { type: string | undefined; value: string } {
  const semicolon = value.indexOf(';');
  // A type is an atom: an address with a ';' later in a comment must not be split there.
  if (semicolon > 0 && semicolon <= 40 && /^\s*[A-Za-z0-9-]+\s*$/.test(value.slice(0, semicolon))) {
    return { type: value.slice(0, semicolon).trim().toLowerCase(), value: value.slice(semicolon + 1).trim() };
  }
  return { type: undefined, value: value.trim() };
}

/**
 * A recipient address as reports write it (`rfc822; <User@Example.COM>`, `utf-8; …`) in the
 * form the envelope uses: brackets and comments stripped, domain in lower-case A-labels. A text
 * that is no mailbox is returned trimmed so that nothing written by the remote is lost.
 */
export function reportAddress(value: string): string {
  const { type, value: raw } = splitTyped(value);
  let text = raw.replace(/\([^()]*\)/g, ' ').trim();
  // RFC 6533 §3: a utf-8 address may carry \x{HEX} escapes for characters it could not write.
  if (type === 'utf-8') text = text.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (all, hex: string) => codePoint(hex) ?? all);
  const bracketed = /<([^<>]*)>/.exec(text);
  if (bracketed) text = bracketed[1];
  text = text.trim().replace(/^["']|["']$/g, '').trim();
  return parseAddress(text)?.address ?? text;
}

function codePoint(hex: string): string | undefined {
  const n = Number.parseInt(hex, 16);
  return n > 0 && n <= 0x10ffff && (n < 0xd800 || n > 0xdfff) ? String.fromCodePoint(n) : undefined;
}

/** The RFC 3463 status at the start of a text, normalised (`5.01.1` → `5.1.1`), or undefined. */
export function statusAtStart(text: string): string | undefined {
  const m = STATUS_AT_START.exec(text);
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : undefined;
}

/** The first RFC 3463 status anywhere in a text (e.g. inside a reply), or undefined. */
export function statusInText(text: string): string | undefined {
  const m = STATUS_ANYWHERE.exec(text.slice(0, MAX_VALUE_CHARS));
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : undefined;
}

/** The RFC 5321 reply code a text starts with, or null. */
export function smtpCodeAtStart(text: string): number | null {
  const m = SMTP_CODE_AT_START.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Parses the body of a message/delivery-status (or message/global-delivery-status) part.
 * Groups are separated by blank lines (RFC 3464 §2.1); the first group without a recipient
 * field holds the per-message fields. Recipients without any address are dropped.
 */
export function parseDeliveryStatus(body: string): DeliveryStatus {
  const perMessage: ReportField[] = [];
  const recipients: DeliveryStatusRecipient[] = [];
  for (const group of splitGroups(body)) {
    const fields = parseFields(group);
    if (fields.length === 0) continue;
    const isRecipient = fields.some((f) => f.name === 'final-recipient' || f.name === 'original-recipient');
    if (!isRecipient) {
      // RFC 3464 §2.2: per-message fields come first; a second such group is tolerated.
      if (recipients.length === 0) perMessage.push(...fields);
      continue;
    }
    const recipient = recipientFrom(fields);
    if (recipient) recipients.push(recipient);
    if (recipients.length >= MAX_RECIPIENTS) break;
  }
  const typed = (name: string): string | undefined => {
    const value = fieldValue(perMessage, name);
    return value ? splitTyped(value).value || undefined : undefined;
  };
  return {
    ...optional('reportingMta', typed('reporting-mta')),
    ...optional('receivedFromMta', typed('received-from-mta')),
    ...optional('arrivalDate', fieldValue(perMessage, 'arrival-date')),
    ...optional('originalEnvelopeId', fieldValue(perMessage, 'original-envelope-id')),
    recipients,
  };
}

function recipientFrom(fields: readonly ReportField[]): DeliveryStatusRecipient | undefined {
  const finalRecipient = fieldValue(fields, 'final-recipient');
  const originalRaw = fieldValue(fields, 'original-recipient');
  const originalRecipient = originalRaw ? reportAddress(originalRaw) : undefined;
  const address = finalRecipient ? reportAddress(finalRecipient) : originalRecipient;
  if (!address) return undefined;

  const diagnosticRaw = fieldValue(fields, 'diagnostic-code');
  const diagnosticParts = diagnosticRaw ? splitTyped(diagnosticRaw) : undefined;
  const diagnostic = diagnosticParts?.value ?? '';
  const statusRaw = fieldValue(fields, 'status') ?? '';
  const actionWord = (fieldValue(fields, 'action') ?? '').trim().split(/[\s;(]/)[0].toLowerCase();
  const smtpCode = smtpCodeAtStart(diagnostic);
  // RFC 3464 §2.3.4 makes Status required; when it is missing or malformed the diagnostic
  // says it, else the reply code's class (X.0.0, RFC 3463 §3.1), else the action.
  const status = statusAtStart(statusRaw)
    ?? statusInText(diagnostic)
    ?? (smtpCode !== null ? `${Math.trunc(smtpCode / 100)}.0.0` : undefined)
    ?? (actionWord === 'delayed' ? '4.0.0' : actionWord === 'failed' ? '5.0.0' : undefined)
    ?? '5.0.0';
  const action: ReportAction = ACTIONS.has(actionWord)
    ? (actionWord as ReportAction)
    : ACTION_BY_CLASS[status.charAt(0) as '2' | '4' | '5'];
  const remoteMta = fieldValue(fields, 'remote-mta');
  return {
    address,
    ...optional('originalRecipient', originalRecipient),
    action,
    status,
    diagnostic,
    ...optional('diagnosticType', diagnosticParts?.type),
    ...optional('remoteMta', remoteMta ? splitTyped(remoteMta).value || undefined : undefined),
    ...optional('lastAttemptDate', fieldValue(fields, 'last-attempt-date')),
    ...optional('willRetryUntil', fieldValue(fields, 'will-retry-until')),
  };
}

/** Blank-line separated groups; a line of only white space also separates (seen in the wild). */
function splitGroups(body: string): string[] {
  const groups: string[] = [];
  let current: string[] = [];
  for (const line of body.split('\n')) {
    if (line.trim() === '') {
      if (current.length) groups.push(current.join('\n'));
      current = [];
    } else {
      current.push(line);
    }
  }
  if (current.length) groups.push(current.join('\n'));
  return groups;
}

function collapse(value: string): string {
  return value.replace(/\s+/g, ' ').trim().slice(0, MAX_VALUE_CHARS);
}

/** `{ key: value }` when value is set, `{}` otherwise, so optional properties stay absent. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
