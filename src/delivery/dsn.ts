// Delivery status notifications (RFC 3464) in a multipart/report (RFC 6522). Pure: the only
// I/O is reading the original message when it is to be returned. Every value that came
// from outside (remote replies, addresses, ids) passes through `oneLine` before it is
// written, so no CR/LF in it can end a field, a block or a MIME part early.
import { randomUUID } from 'node:crypto';
import type { DsnAction } from './dsn-status.ts';

export interface DsnRecipient {
  /** Final recipient as we tried it (RFC 3464 §2.3.2), written as `rfc822; addr`. */
  readonly address: string;
  /** RFC 3461 ORCPT as received, xtext-decoded, e.g. 'rfc822;user@example.com'. */
  readonly orcpt?: string | null;
  readonly action: DsnAction;
  /** RFC 3463 status, e.g. '5.1.1'. */
  readonly status: string;
  /** The remote MX host name, 'mx.example.com' or 'dns; mx.example.com'. */
  readonly remoteMta?: string | null;
  /** The remote reply, e.g. '550 5.1.1 No such user'; written as `smtp; …`. */
  readonly diagnostic?: string | null;
  readonly lastAttemptAt?: Date | null;
  /** Only written for `delayed` (RFC 3464 §2.3.9). */
  readonly willRetryUntil?: Date | null;
}

export interface DsnInput {
  /** Our host name (Reporting-MTA). */
  readonly reportingMta: string;
  /** e.g. 'MAILER-DAEMON@host'; a bare address gets the display name "Mail Delivery System". */
  readonly from: string;
  /** The envelope sender of the original message. */
  readonly to: string;
  /** RFC 3461 ENVID, written as Original-Envelope-Id. */
  readonly envid?: string | null;
  readonly ret?: 'FULL' | 'HDRS' | null;
  readonly arrivalDate: Date;
  readonly recipients: readonly DsnRecipient[];
  /** The original header section, up to and including the blank line. */
  readonly originalHeaders: Buffer;
  /** The full original, read only when it is to be returned. */
  readonly originalMessage?: () => NodeJS.ReadableStream | Buffer;
  readonly originalSize?: number;
  /** Largest original returned in full, in octets; default 1 MiB. */
  readonly maxReturnBytes?: number;
  /** Message-ID of the DSN, e.g. '<…@host>'. */
  readonly messageId: string;
  readonly date?: Date;
}

/** A DSN that cannot be built from its input: a caller's bug, never a remote's doing. */
export class DsnError extends Error {
  readonly code: 'DSN_NULL_SENDER' | 'DSN_NO_RECIPIENTS' | 'DSN_BAD_ACTION' | 'DSN_BAD_STATUS' | 'DSN_BAD_DATE';

  constructor(code: DsnError['code'], message: string) {
    super(message);
    this.name = 'DsnError';
    this.code = code;
  }
}

const CRLF = '\r\n';
const CRLF_BYTES = Buffer.from(CRLF);
// RFC 5322 §2.1.1: a line is at most 998 octets plus CRLF, and SHOULD be at most 78.
const MAX_LINE_BYTES = 998;
const WRAP_CHARS = 76;
// A word longer than this is cut (a space appears on unfolding): only remote junk does that.
const MAX_WORD_BYTES = 900;
// Remote replies are a few hundred octets; a multi-kilobyte one is noise, not diagnosis.
const MAX_DIAGNOSTIC_CHARS = 2000;
const INDENT = '    ';
const DEFAULT_MAX_RETURN_BYTES = 1024 * 1024;
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/; // RFC 3463 §2
const ACTIONS: ReadonlySet<string> = new Set(['failed', 'delayed', 'delivered', 'relayed', 'expanded']); // RFC 3464 §2.3.3
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Builds the complete DSN message (CRLF line endings). A DSN whose report carries UTF-8
 * addresses is written per RFC 6533 (message/global-delivery-status) and has UTF-8 in its
 * own header when the envelope sender is UTF-8, so it must then be sent with SMTPUTF8;
 * octets ≥ 0x80 anywhere in the result need BODY=8BITMIME.
 * The original is returned in full only for a failure DSN (RFC 3461 §4.3) without RET=HDRS
 * when it fits in `maxReturnBytes`; otherwise, or when it cannot be read, only its headers.
 */
export async function buildDsn(input: DsnInput): Promise<Buffer> {
  // RFC 5321 §4.5.5 / RFC 3464 §2: a null reverse-path gets no notification at all.
  if (!stripBrackets(oneLine(input.to))) throw new DsnError('DSN_NULL_SENDER', 'no DSN is sent to a null reverse-path');
  if (input.recipients.length === 0) throw new DsnError('DSN_NO_RECIPIENTS', 'a DSN reports at least one recipient');
  // Checked at run time too: both are written verbatim, and rows from a database are untyped.
  for (const r of input.recipients) {
    if (!ACTIONS.has(r.action)) throw new DsnError('DSN_BAD_ACTION', `not an RFC 3464 action: ${JSON.stringify(r.action)}`);
    if (!STATUS.test(r.status)) throw new DsnError('DSN_BAD_STATUS', `not an RFC 3463 status: ${JSON.stringify(r.status)}`);
  }
  // RFC 6533 §6.2: UTF-8 addresses need the global report type; ASCII ones keep the classic
  // type that every bounce parser knows.
  const global = input.recipients.some((r) => NON_ASCII.test(r.address) || NON_ASCII.test(r.orcpt ?? ''));
  const anyFailed = input.recipients.some((r) => r.action === 'failed');
  const returned = await returnedPart(input, anyFailed);
  const human = humanPart(input, returned.note);
  const report = reportPart(input, global);

  let boundary = `=_dsn_${randomUUID()}`;
  const parts = [human, report, returned.part];
  // The body must not contain the delimiter; with a random UUID this loop never repeats.
  while (parts.some((p) => p.includes(`--${boundary}`))) boundary = `=_dsn_${randomUUID()}`;
  // The human part is quoted-printable; the report is 8bit only in its global form.
  const eightBit = global || returned.eightBit;

  const date = input.date ?? new Date();
  const from = oneLine(input.from);
  const subject = anyFailed
    ? 'Undelivered Mail Returned to Sender'
    : input.recipients.some((r) => r.action === 'delayed')
      ? 'Delivery Status Notification (Delay)'
      : 'Delivery Status Notification (Success)';
  const messageId = oneLine(input.messageId);
  const header = [
    field('From', from.includes('<') ? from : `Mail Delivery System <${from}>`),
    field('To', `<${stripBrackets(oneLine(input.to))}>`),
    field('Subject', subject),
    field('Date', rfc5322Date(date)),
    field('Message-ID', messageId.startsWith('<') ? messageId : `<${messageId}>`),
    'MIME-Version: 1.0',
    // RFC 3834 §5: machine-generated in reply to a message; stops auto-responders answering.
    'Auto-Submitted: auto-replied',
    // RFC 6522 §3: report-type names the subtype of the second part.
    `Content-Type: multipart/report; report-type=${global ? 'global-' : ''}delivery-status;${CRLF} boundary="${boundary}"`,
    ...(eightBit ? ['Content-Transfer-Encoding: 8bit'] : []),
  ].join(CRLF);

  const chunks: Buffer[] = [Buffer.from(`${header}${CRLF}${CRLF}This is a MIME-encapsulated message.${CRLF}`)];
  for (const part of parts) chunks.push(Buffer.from(`${CRLF}--${boundary}${CRLF}`), part);
  chunks.push(Buffer.from(`${CRLF}--${boundary}--${CRLF}`));
  return Buffer.concat(chunks);
}

/**
 * True for a message no DSN may be sent about: a DSN (RFC 3461 §6.2, RFC 3464 §2) or any
 * automatic message (RFC 3834 §2: Auto-Submitted other than "no"). A null reverse-path is
 * the caller's check.
 */
export function isDsnOrAutoReply(headers: Buffer | string): boolean {
  const text = typeof headers === 'string' ? headers : headers.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const section = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n(?=[ \t])/g, '');
  for (const line of section.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).replace(/\([^()]*\)/g, ' ').trim();
    // RFC 3834 §5: "no" (or no field) is the only value meaning a person sent it.
    if (name === 'auto-submitted' && value.split(/[\s;]/)[0].toLowerCase() !== 'no') return true;
    if (name === 'content-type' && /^multipart\/report\s*(;|$)/i.test(value)) {
      const type = /;\s*report-type\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(value);
      const reportType = (type?.[1] ?? type?.[2] ?? '').toLowerCase();
      if (reportType === 'delivery-status' || reportType === 'global-delivery-status') return true;
    }
  }
  return false;
}

// ---- the three parts ----

function humanPart(input: DsnInput, note: string): Buffer {
  const failed = input.recipients.some((r) => r.action === 'failed');
  const delayed = input.recipients.some((r) => r.action === 'delayed');
  const lines = [`This is the mail system at ${oneLine(input.reportingMta)}.`, ''];
  if (failed) lines.push(...wrap('Your message could not be delivered to one or more recipients. The reasons are listed below.'));
  else if (delayed) lines.push(...wrap('Your message has not been delivered yet to one or more recipients. The mail system will keep trying; you do not need to send it again.'));
  else lines.push(...wrap('Your message was delivered to the recipients listed below.'));
  lines.push('');
  for (const r of input.recipients) {
    lines.push(...wrap(`<${stripBrackets(oneLine(r.address))}>: ${r.action} (${r.status})`));
    const host = r.remoteMta ? oneLine(r.remoteMta).replace(/^[^;]*;\s*/, '') : '';
    if (r.diagnostic) lines.push(...wrap(`${host ? `${host} said` : 'Reason'}: ${diagnosticText(r.diagnostic)}`, INDENT));
    if (r.action === 'delayed' && r.willRetryUntil) lines.push(...wrap(`Will keep trying until ${rfc5322Date(r.willRetryUntil)}.`, INDENT));
    lines.push('');
  }
  if (note) lines.push(...wrap(note), '');
  const text = lines.join(CRLF);
  if (!NON_ASCII.test(text)) return Buffer.from(`Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}${text}`);
  return Buffer.from(
    `Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}${CRLF}${encodeQuotedPrintable(text)}`,
  );
}

function reportPart(input: DsnInput, global: boolean): Buffer {
  // RFC 3464 §2.1.1: the delivery-status body is 7bit; RFC 6533 §6.2 lets the global type carry UTF-8.
  const text = (s: string) => (global ? s : s.replace(/[^\x20-\x7e]/g, '?'));
  // RFC 3464 §2.2: per-message fields.
  const perMessage = [field('Reporting-MTA', `dns; ${text(oneLine(input.reportingMta))}`)];
  if (input.envid) perMessage.push(field('Original-Envelope-Id', text(oneLine(input.envid))));
  perMessage.push(field('Arrival-Date', rfc5322Date(input.arrivalDate)));
  const blocks = [perMessage.join(CRLF)];
  // RFC 3464 §2.3: one block per recipient, blank-line separated.
  for (const r of input.recipients) {
    const f: string[] = [];
    if (r.orcpt) f.push(field('Original-Recipient', addressValue(r.orcpt, global)));
    f.push(field('Final-Recipient', addressValue(`rfc822;${stripBrackets(oneLine(r.address))}`, global)));
    f.push(`Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remoteMta) {
      const mta = text(oneLine(r.remoteMta));
      f.push(field('Remote-MTA', mta.includes(';') ? mta : `dns; ${mta}`));
    }
    if (r.diagnostic) {
      const diag = text(diagnosticText(r.diagnostic));
      f.push(field('Diagnostic-Code', /^smtp\s*;/i.test(diag) ? diag : `smtp; ${diag}`));
    }
    if (r.lastAttemptAt) f.push(field('Last-Attempt-Date', rfc5322Date(r.lastAttemptAt)));
    if (r.action === 'delayed' && r.willRetryUntil) f.push(field('Will-Retry-Until', rfc5322Date(r.willRetryUntil)));
    blocks.push(f.join(CRLF));
  }
  const type = global ? 'message/global-delivery-status' : 'message/delivery-status';
  const cte = global ? `${CRLF}Content-Transfer-Encoding: 8bit` : '';
  return Buffer.from(`Content-Type: ${type}${cte}${CRLF}${CRLF}${blocks.join(CRLF + CRLF)}${CRLF}`);
}

async function returnedPart(input: DsnInput, anyFailed: boolean): Promise<{ part: Buffer; note: string; eightBit: boolean }> {
  const max = input.maxReturnBytes ?? DEFAULT_MAX_RETURN_BYTES;
  // RFC 6533 §6.3/§6.4 (RFC 6532 §3.7): an original with UTF-8 headers goes back as message/global*.
  const utf8Headers = input.originalHeaders.some((b) => b >= 0x80);
  let note = '';
  // RFC 3461 §4.3: RET governs failure DSNs; a delay or success DSN returns headers only.
  if (anyFailed && input.ret !== 'HDRS' && input.originalMessage) {
    const full = (input.originalSize ?? 0) > max ? 'too-large' : await readCapped(input.originalMessage, max);
    if (typeof full !== 'string') {
      const scan = toCrlfLines(full, false);
      // message/rfc822 may only be 7bit or 8bit (RFC 2046 §5.2.1): lines over 998 octets or
      // NULs cannot go back unencoded, so such an original is returned as headers.
      if (!scan.tooLong && !scan.nul) {
        return { part: messagePart(utf8Headers ? 'message/global' : 'message/rfc822', scan), note, eightBit: scan.eightBit };
      }
      note = 'The original message could not be returned unencoded; only its headers are attached.';
    } else if (full === 'too-large') {
      note = 'The original message was too large to return; only its headers are attached.';
    } else {
      note = 'The original message could not be read; only its headers are attached.';
    }
  }
  const headers = toCrlfLines(headerSection(input.originalHeaders), true);
  return { part: messagePart(utf8Headers ? 'message/global-headers' : 'text/rfc822-headers', headers), note, eightBit: headers.eightBit };
}

function messagePart(type: string, body: LineScan): Buffer {
  const cte = body.eightBit ? `${CRLF}Content-Transfer-Encoding: 8bit` : '';
  const disposition = type.endsWith('headers') ? 'inline' : 'attachment';
  return Buffer.concat([Buffer.from(`Content-Type: ${type}${cte}${CRLF}Content-Disposition: ${disposition}${CRLF}${CRLF}`), body.data]);
}

// ---- reading and normalising the original ----

async function readCapped(open: () => NodeJS.ReadableStream | Buffer, maxBytes: number): Promise<Buffer | 'too-large' | 'unreadable'> {
  try {
    const source = open();
    if (Buffer.isBuffer(source)) return source.length > maxBytes ? 'too-large' : source;
    const chunks: Buffer[] = [];
    let total = 0;
    // Leaving the loop early calls return() on the iterator, which destroys the stream.
    for await (const chunk of source) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string | Uint8Array);
      total += buf.length;
      if (total > maxBytes) return 'too-large';
      chunks.push(buf);
    }
    return Buffer.concat(chunks, total);
  } catch {
    // A bounce must still go out: RFC 3464 lets it carry headers only.
    return 'unreadable';
  }
}

interface LineScan {
  readonly data: Buffer;
  readonly eightBit: boolean;
  readonly tooLong: boolean;
  readonly nul: boolean;
}

/** Rewrites bare CR and LF as CRLF, ends the data with CRLF, and reports what it saw. */
function toCrlfLines(src: Buffer, truncate: boolean): LineScan {
  const out: Buffer[] = [];
  let eightBit = false;
  let tooLong = false;
  let nul = false;
  let start = 0;
  const push = (line: Buffer) => {
    if (line.length > MAX_LINE_BYTES) {
      tooLong = true;
      if (truncate) {
        let cut = MAX_LINE_BYTES;
        while (cut > 0 && (line[cut] & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
        line = line.subarray(0, cut);
      }
    }
    out.push(line, CRLF_BYTES);
  };
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (b === 0x0a || b === 0x0d) {
      push(src.subarray(start, i));
      if (b === 0x0d && src[i + 1] === 0x0a) i++;
      start = i + 1;
    } else if (b === 0) nul = true;
    else if (b >= 0x80) eightBit = true;
  }
  if (start < src.length) push(src.subarray(start));
  let data = Buffer.concat(out);
  if (nul && truncate) data = Buffer.from(data.filter((b) => b !== 0));
  return { data, eightBit, tooLong, nul };
}

/** The header fields without the blank line that ends them. */
function headerSection(headers: Buffer): Buffer {
  const end = headers.toString('latin1').search(/\r?\n\r?\n/);
  return end < 0 ? headers : headers.subarray(0, end);
}

// ---- field formatting ----

/** Control characters (CR and LF included) become spaces; runs of white space collapse. */
function oneLine(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\x00-\x1f\x7f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
}

function diagnosticText(value: string): string {
  const text = oneLine(value);
  return text.length > MAX_DIAGNOSTIC_CHARS ? `${text.slice(0, MAX_DIAGNOSTIC_CHARS)}...` : text;
}

function stripBrackets(address: string): string {
  return address.replace(/^<(.*)>$/, '$1');
}

/**
 * `type; address` for Original-/Final-Recipient (RFC 3464 §2.3.1, §2.3.2). A non-ASCII
 * address is type utf-8 (RFC 6533 §3): raw UTF-8 in the global report, otherwise its
 * ASCII form with each non-ASCII character as \x{HEX} (utf-8-addr-xtext).
 */
function addressValue(raw: string, global: boolean): string {
  const value = oneLine(raw);
  const m = /^([A-Za-z0-9-]+)\s*;\s*(.*)$/.exec(value);
  let type = m ? m[1].toLowerCase() : 'rfc822';
  let address = m ? m[2] : value;
  if (NON_ASCII.test(address) && type === 'rfc822') type = 'utf-8';
  if (type === 'utf-8' && global) {
    address = address.replace(/\\x\{([0-9A-Fa-f]{2,6})\}/g, (s, hex: string) => {
      const point = parseInt(hex, 16);
      return point > 0x7f && point <= 0x10ffff && (point < 0xd800 || point > 0xdfff) ? String.fromCodePoint(point) : s;
    });
  }
  if (!global) address = address.replace(/[^\x20-\x7e]/gu, (c) => `\\x{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
  return `${type}; ${address}`;
}

/** RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 01 Jul 2025 10:00:00 +0000". */
function rfc5322Date(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new DsnError('DSN_BAD_DATE', 'invalid date in DSN input');
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** `Name: value`, folded at spaces (RFC 5322 §2.2.3) so no line passes 998 octets. */
function field(name: string, value: string): string {
  return wrap(`${name}: ${value}`, '', ' ').join(CRLF);
}

/**
 * Splits text at spaces into lines of about WRAP_CHARS characters. A word too long for any
 * line is cut at MAX_WORD_BYTES octets, so no line passes 998 octets whatever the input.
 */
function wrap(text: string, firstIndent = '', nextIndent = firstIndent): string[] {
  const words = text.split(' ').flatMap((w) => splitWord(w));
  const lines: string[] = [];
  let current = firstIndent + words[0];
  for (const word of words.slice(1)) {
    if (current.trim() && current.length + 1 + word.length > WRAP_CHARS) {
      lines.push(current);
      current = nextIndent + word;
    } else {
      current = `${current} ${word}`;
    }
  }
  lines.push(current);
  return lines;
}

function splitWord(word: string): string[] {
  if (Buffer.byteLength(word) <= MAX_WORD_BYTES) return [word];
  const pieces: string[] = [];
  let piece = '';
  let bytes = 0;
  for (const ch of word) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > MAX_WORD_BYTES) {
      pieces.push(piece);
      piece = '';
      bytes = 0;
    }
    piece += ch;
    bytes += n;
  }
  pieces.push(piece);
  return pieces;
}

/** RFC 2045 §6.7 quoted-printable, line by line, soft breaks keeping lines ≤ 76. */
function encodeQuotedPrintable(text: string): string {
  return text
    .split(CRLF)
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      let done = '';
      let current = '';
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        const last = i === bytes.length - 1;
        // Rule 3: white space at the end of a line must be encoded.
        const literal = (b >= 0x21 && b <= 0x7e && b !== 0x3d) || ((b === 0x20 || b === 0x09) && !last);
        const token = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
        if (current.length + token.length > 75) {
          done += `${current}=${CRLF}`;
          current = '';
        }
        current += token;
      }
      return done + current;
    })
    .join(CRLF);
}
