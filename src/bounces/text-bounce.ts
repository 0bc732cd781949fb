// Bounces written for people rather than machines: the text NDRs of Exchange/Office 365, Gmail,
// Yahoo, Postfix, Exim and qmail, and the generic MAILER-DAEMON shape. None of these is a
// standard (RFC 3464 is), so this file recognises each by its fixed sentences and reads the
// recipient and the remote's reply out of the paragraph around it. Every scan is line by line
// over a bounded text with flat regular expressions: linear on any input.
import { detailFromText } from './classify-bounce.ts';
import { reportAddress, smtpCodeAtStart, statusInText } from './delivery-status.ts';

export type TextBounceFormat = 'exchange' | 'gmail' | 'yahoo' | 'postfix' | 'exim' | 'qmail' | 'generic';

export interface TextBounceRecipient {
  readonly address: string;
  readonly action: 'failed' | 'delayed';
  /** RFC 3463 status: the one in the reply, else inferred from the reply code and text. */
  readonly status: string;
  readonly smtpCode: number | null;
  /** The remote's reply as quoted in the bounce, or the bounce's own explanation. */
  readonly diagnostic: string;
  readonly remoteMta?: string;
}

export interface TextBounce {
  readonly format: TextBounceFormat;
  /**
   * True when a known MTA's wording (or X-Failed-Recipients) identified the bounce; false when
   * only a MAILER-DAEMON sender or a bounce-like subject did, which weaker evidence an explicit
   * auto-reply header should override.
   */
  readonly recognised: boolean;
  readonly recipients: TextBounceRecipient[];
  readonly reportingMta?: string;
}

export interface TextBounceInput {
  /** The plain-text body (or the HTML body as text). */
  readonly text: string;
  readonly subject?: string;
  readonly from?: string;
  /** X-Failed-Recipients (Exim, Gmail), addresses. */
  readonly failedRecipients?: readonly string[];
}

/** Only the start of a body is scanned (bounce text is short; the rest is the returned message). */
export const MAX_SCAN_CHARS = 256 * 1024;
const MAX_LINES = 4000;
const MAX_LINE_CHARS = 2000;
const MAX_RECIPIENTS = 200;
const MAX_DIAGNOSTIC_CHARS = 1000;

// Fixed sentences, lower case, that identify who wrote the bounce.
const SIGNATURES: ReadonlyArray<readonly [TextBounceFormat, string]> = [
  ['exchange', 'delivery has failed to these recipients or groups'],
  ['exchange', 'diagnostic information for administrators'],
  ['exchange', 'remote server returned \''],
  ['gmail', 'the response from the remote server was:'],
  ['gmail', '** address not found **'],
  ['gmail', '** message not delivered **'],
  ['gmail', '** delivery incomplete **'],
  ['yahoo', 'sorry, we were unable to deliver your message to the following address'],
  ['postfix', 'this is the mail system at host'],
  ['exim', 'this message was created automatically by mail delivery software'],
  ['qmail', 'hi. this is the qmail-send program'],
  ['generic', 'the original message was received at'],
  ['generic', 'the following addresses had permanent fatal errors'],
  ['generic', 'delivery to the following recipients failed'],
  ['generic', 'delivery to the following recipient failed'],
];

// Where the returned copy of the original starts; nothing below it describes the failure.
const ORIGINAL_MARKERS: readonly string[] = [
  '------ this is a copy of the message', // Exim (full message or headers only)
  '--- below this line is a copy of the message', // qmail, Yahoo
  'original message headers:', // Exchange
  '----- original message -----',
];

const BOUNCE_SENDER = /^(?:mailer-daemon|postmaster|mail delivery (?:subsystem|system)|mdaemon)\b/;
// Subjects that MTAs give their non-standard bounces; anchored words, no nested quantifiers.
const BOUNCE_SUBJECT = /undeliver|returned mail|returned to sender|delivery status notification|delivery (?:failure|failed|has failed|incomplete)|failure notice|mail delivery failed|not delivered|could not send message|delivery problem/;
// A warning that the MTA is still trying (RFC 3464 §2.3.3 "delayed"), not a final failure.
const DELAY_TEXT = /not yet been delivered|delayed mail|still being retried|will (?:retry|continue to try|keep trying)|temporary problem delivering|\(delay\)|delivery delayed|message delayed|warning: could not send|delivery incomplete/;

const LOCAL_CHAR = /[\w.!#$%&'*+/=?^`{|}~\u0080-\uffff-]/;
const DOMAIN_CHAR = /[\w.\u0080-\uffff-]/;
// RFC 5321 §4.2 reply code where a bounce quotes a reply: after "said:", a quote, "#" (Exchange)
// or at a word start; followed by SP, "-", ":" (Yahoo's "554:") or the end.
const REPLY_CODE = /(?:^|[\s'"(#:])([245][0-5]\d)(?=[ -]|:\s|:$|$)/;
// Postfix and qmail end the address with ":", sendmail's summary does not.
const ANGLE_ENTRY = /^<([^<>\s]{1,320})>(?:\s{0,4}\(expanded from [^()]{0,320}\))?:?(.*)$/;
const EXIM_ENTRY = /^ {1,6}<?([^\s<>@]{1,64}@[^\s<>:@]{1,255})>?(?::\s(.*)|\s+\(.{0,320}\))?$/;
const REMOTE_HOST = /\bhost ([A-Za-z0-9.-]{1,253})\s?\[/;

type Entry = { address: string; lines: string[] };

/**
 * The recipients a human-readable bounce reports, or undefined when the text is not a bounce
 * (no known signature and neither sender, subject nor X-Failed-Recipients says so) or names
 * no recipient. Never throws.
 */
export function parseTextBounce(input: TextBounceInput): TextBounce | undefined {
  const { report } = splitOriginal(input.text);
  const lower = report.toLowerCase();
  const signature = SIGNATURES.find(([, phrase]) => lower.includes(phrase))?.[0];
  const subject = (input.subject ?? '').slice(0, 1000).toLowerCase();
  const failed = (input.failedRecipients ?? []).map(reportAddress).filter((a) => a.includes('@'));
  const bounceLike = signature !== undefined || failed.length > 0 || senderLooksLikeBounce(input.from) || BOUNCE_SUBJECT.test(subject);
  if (!bounceLike) return undefined;

  const format = signature ?? 'generic';
  const lines = report.split('\n', MAX_LINES).map((l) => l.slice(0, MAX_LINE_CHARS).trimEnd());
  const extractors = EXTRACTORS[format];
  let entries: Entry[] = [];
  for (const extract of extractors) if (entries.length === 0) entries = extract(lines);
  if (entries.length === 0) for (const extract of FALLBACK) if (entries.length === 0) entries = extract(lines);

  const delayed = DELAY_TEXT.test(subject) || DELAY_TEXT.test(lower.slice(0, 4000));
  const seen = new Set<string>();
  const recipients: TextBounceRecipient[] = [];
  const add = (address: string, lines: readonly string[]): void => {
    const key = address.toLowerCase();
    if (seen.has(key) || recipients.length >= MAX_RECIPIENTS) return;
    seen.add(key);
    recipients.push(recipientFrom(address, lines, delayed));
  };
  for (const entry of entries) add(entry.address, entry.lines);
  // X-Failed-Recipients names addresses the text may not: they share the bounce's one reply.
  const shared = entries[0]?.lines ?? replyLines(lines);
  for (const address of failed) add(address, shared);
  if (recipients.length === 0) return undefined;
  const reportingMta = reportingMtaOf(report);
  const recognised = signature !== undefined || failed.length > 0;
  return { format, recognised, recipients, ...(reportingMta ? { reportingMta } : {}) };
}

/**
 * Splits a bounce body where the returned original starts (Exim, qmail, Exchange markers).
 * The text is cut to MAX_SCAN_CHARS and its line ends made LF first.
 */
export function splitOriginal(text: string): { report: string; original?: string } {
  const body = text.slice(0, MAX_SCAN_CHARS).replace(/\r\n?/g, '\n');
  const lower = body.toLowerCase();
  let cut = -1;
  for (const marker of ORIGINAL_MARKERS) {
    const at = lower.indexOf(marker);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  if (cut < 0) return { report: body };
  const lineEnd = body.indexOf('\n', cut);
  return { report: body.slice(0, cut), original: lineEnd < 0 ? '' : body.slice(lineEnd + 1).replace(/^\n+/, '') };
}

// ---- extractors: each returns the recipients it found with the lines describing each ----

/** Postfix, qmail, Yahoo: a line `<addr>: …` then its paragraph. */
function angleEntries(lines: readonly string[]): Entry[] {
  const entries: Entry[] = [];
  let current: Entry | undefined;
  for (const line of lines) {
    const m = line.startsWith('<') ? ANGLE_ENTRY.exec(line) : null;
    if (m && m[1].includes('@')) {
      current = { address: reportAddress(m[1]), lines: m[2].trim() ? [m[2].trim()] : [] };
      entries.push(current);
    } else if (line.trim() === '') {
      // qmail leaves no blank line between the address and its text; Postfix indents.
      if (current && current.lines.length) current = undefined;
    } else if (current) {
      current.lines.push(line.trim());
    }
  }
  return entries;
}

/** Exim: a line indented two spaces holding the address, the reason indented deeper below it. */
function eximEntries(lines: readonly string[]): Entry[] {
  const entries: Entry[] = [];
  let current: Entry | undefined;
  let indent = 0;
  for (const line of lines) {
    const depth = line.length - line.trimStart().length;
    if (current && depth > indent && line.trim()) {
      current.lines.push(line.trim());
      continue;
    }
    current = undefined;
    const m = depth > 0 && line.includes('@') ? EXIM_ENTRY.exec(line) : null;
    if (!m) continue;
    current = { address: reportAddress(m[1]), lines: m[2] ? [m[2].trim()] : [] };
    indent = depth;
    entries.push(current);
  }
  return entries.filter((e) => e.address.includes('@'));
}

/** Exchange / Office 365: the address on its own line, then "Remote Server returned '…'". */
function exchangeEntries(lines: readonly string[]): Entry[] {
  const entries: Entry[] = [];
  let address: string | undefined;
  for (const line of lines) {
    const trimmed = line.trim();
    const returned = /remote server returned '(.{1,1000})$/i.exec(trimmed) ?? /^(?:reported error|error):\s{0,4}(.{1,1000})$/i.exec(trimmed) ?? /^#([245]\d\d[\s-].{0,1000})$/.exec(trimmed);
    if (returned && address) {
      // Exchange closes the reply with "'" (2010+) or "##" (2003/2007).
      const reply = returned[1].split('##')[0].trim().replace(/'$/, '');
      entries.push({ address, lines: [reply] });
      address = undefined;
      continue;
    }
    const found = trimmed.length <= 400 && trimmed.includes('@') ? addressesIn(trimmed) : [];
    // A line that is only an address (maybe "Name (addr)" or "addr<mailto:addr>").
    if (found.length === 1 && !/\s(?:said|returned|to|was)\b/i.test(trimmed)) address = found[0];
  }
  if (entries.length) return entries;
  // No administrator section: the addresses listed under the first sentence, sharing its text.
  const start = lines.findIndex((l) => l.toLowerCase().includes('delivery has failed to these recipients or groups'));
  if (start < 0) return [];
  const after = lines.slice(start + 1, start + 40);
  const text = after.filter((l) => l.trim() && !l.includes('@')).slice(0, 3);
  return after.filter((l) => l.includes('@')).flatMap((l) => addressesIn(l).slice(0, 1)).map((a) => ({ address: a, lines: text }));
}

/** Gmail: "wasn't delivered to addr" and the reply under "The response from the remote server was:". */
function gmailEntries(lines: readonly string[]): Entry[] {
  const reply = replyAfter(lines, /^the response (?:from the remote server )?was:?$/i);
  const addresses: string[] = [];
  for (const line of lines) {
    if (!line.includes('@')) continue;
    const m = /(?:delivered to|delivering your message to|your message to)\s<?([^\s<>@]{1,64}@[^\s<>@]{1,255})/i.exec(line);
    if (m) addresses.push(reportAddress(m[1].replace(/[>.,;:]+$/, '')));
  }
  return addresses.map((address) => ({ address, lines: reply }));
}

/** Anything else: lines that quote a reply and name an address (sendmail's "<<< 550 … <addr>"). */
function genericEntries(lines: readonly string[]): Entry[] {
  const entries: Entry[] = [];
  for (const line of lines) {
    if (!line.includes('@') || !REPLY_CODE.test(line)) continue;
    const address = addressesIn(line)[0];
    if (address) entries.push({ address, lines: [line.trim()] });
  }
  return entries;
}

const EXTRACTORS: Record<TextBounceFormat, ReadonlyArray<(lines: readonly string[]) => Entry[]>> = {
  exchange: [exchangeEntries],
  gmail: [gmailEntries],
  yahoo: [angleEntries],
  postfix: [angleEntries],
  qmail: [angleEntries],
  exim: [eximEntries],
  generic: [angleEntries, genericEntries],
};
const FALLBACK = [angleEntries, exchangeEntries, gmailEntries, eximEntries, genericEntries];

// ---- one recipient's facts ----

function recipientFrom(address: string, lines: readonly string[], delayedNotice: boolean): TextBounceRecipient {
  // sendmail's "(reason: …)" wrapper is the bounce's, not the remote's.
  const text = lines.join(' ').replace(/\s+/g, ' ').trim().replace(/^\(reason:\s?/i, '');
  const codeAt = REPLY_CODE.exec(text);
  const smtpCode = codeAt ? Number(codeAt[1]) : smtpCodeAtStart(text);
  // The diagnostic is the reply from its code on; without a code, the whole explanation.
  const from = codeAt ? codeAt.index + codeAt[0].indexOf(codeAt[1]) : 0;
  let diagnostic = text.slice(from, from + MAX_DIAGNOSTIC_CHARS).replace(/\s*Giving up on [^ ]{1,64}\.?$/i, '');
  // sendmail wraps the reply in "(reason: …)": drop the closing parenthesis the cut left alone.
  if (diagnostic.endsWith(')') && count(diagnostic, '(') < count(diagnostic, ')')) diagnostic = diagnostic.slice(0, -1);
  const noticeClass = delayedNotice ? '4' : '5';
  const replyClass = smtpCode !== null ? String(Math.trunc(smtpCode / 100)) : noticeClass;
  // A quoted 2xx is not what failed (e.g. "250 ok" before a later 550): the notice decides.
  const cls = replyClass === '2' ? noticeClass : replyClass;
  const enhanced = statusInText(diagnostic);
  // RFC 3463 §2 with RFC 2034 §4: the reply code's class wins over a disagreeing enhanced code.
  const status = enhanced ? `${cls}${enhanced.slice(1)}` : `${cls}.${detailFromText(diagnostic) ?? '0.0'}`;
  const action = delayedNotice ? 'delayed' : 'failed';
  const remoteMta = REMOTE_HOST.exec(text)?.[1];
  return { address, action, status, smtpCode, diagnostic, ...(remoteMta ? { remoteMta } : {}) };
}

/** The non-empty lines after a heading line, up to the next blank line. */
function replyAfter(lines: readonly string[], heading: RegExp): string[] {
  const at = lines.findIndex((l) => heading.test(l.trim()));
  if (at < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(at + 1, at + 40)) {
    if (line.trim() === '') {
      if (out.length) break;
      continue;
    }
    out.push(line.trim());
  }
  return out;
}

/** For a bounce whose addresses come only from X-Failed-Recipients: the first line quoting a reply. */
function replyLines(lines: readonly string[]): string[] {
  const line = lines.find((l) => REPLY_CODE.test(l) && (statusInText(l) !== undefined || /said|error|reply|response/i.test(l)));
  return line ? [line.trim()] : [];
}

function count(text: string, char: string): number {
  let n = 0;
  for (const c of text) if (c === char) n++;
  return n;
}

function addressesIn(line: string): string[] {
  // Grown outwards from each "@" rather than matched with a regular expression, so a long run
  // of address characters costs one pass, not one attempt per starting position.
  const out: string[] = [];
  let at = line.indexOf('@');
  while (at >= 0 && out.length < 8) {
    let start = at;
    while (start > 0 && at - start < 64 && LOCAL_CHAR.test(line[start - 1])) start--;
    let end = at + 1;
    while (end < line.length && end - at <= 253 && DOMAIN_CHAR.test(line[end])) end++;
    const address = reportAddress(line.slice(start, end).replace(/^mailto:/i, '').replace(/[.-]+$/, ''));
    if (start < at && end > at + 1 && address.includes('@') && !out.includes(address)) out.push(address);
    at = line.indexOf('@', at + 1);
  }
  return out;
}

function senderLooksLikeBounce(from: string | undefined): boolean {
  const text = (from ?? '').slice(0, 400).toLowerCase().replace(/"/g, '').trim();
  const inBrackets = /<([^<>]{0,320})>/.exec(text)?.[1] ?? '';
  return BOUNCE_SENDER.test(text) || BOUNCE_SENDER.test(inBrackets);
}

function reportingMtaOf(report: string): string | undefined {
  const m = /this is the mail system at host ([A-Za-z0-9.-]{1,253}?)\.?\s/i.exec(report)
    ?? /this is the qmail-send program at ([A-Za-z0-9.-]{1,253}?)\.?\s/i.exec(report)
    ?? /generating server: ([A-Za-z0-9.-]{1,253})/i.exec(report);
  return m?.[1];
}
