// A small MIME builder for the common API message: text and/or html, no attachments, no custom
// headers, ASCII addresses (display names may be anything). It writes the same structure as
// MailComposer (single text part, or multipart/alternative with text then html, RFC 2046 §5.1.4)
// in one pass over strings, without MailComposer's stream pipeline, which was ~14% of the API
// thread's CPU in `npm run bench -- --only api --profile`. Anything else returns null and the
// caller uses MailComposer.
import { createHash, randomUUID } from 'node:crypto';

export interface SimpleMailbox {
  readonly address: string;
  readonly name: string | null;
  readonly utf8: boolean;
}

export interface SimpleContent {
  readonly from: SimpleMailbox;
  readonly to?: readonly SimpleMailbox[] | undefined;
  readonly cc?: readonly SimpleMailbox[] | undefined;
  readonly reply_to?: readonly SimpleMailbox[] | undefined;
  readonly subject?: string | null | undefined;
  /** Already with CRLF line ends. */
  readonly text?: string | null | undefined;
  readonly html?: string | null | undefined;
}

const CRLF = '\r\n';
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
/** RFC 5322 §3.2.3 atext plus space: a display name that needs no quoting. */
const ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * RFC 2047 §4.1 "B" encoded words, each at most 75 characters (§2): UTF-8 split on code point
 * boundaries into chunks of at most 45 bytes (60 base64 characters + 12 of wrapping).
 */
export function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > 45) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk).toString('base64')}?=`);
      chunk = '';
      bytes = 0;
    }
    chunk += ch;
    bytes += n;
  }
  if (chunk) words.push(`=?UTF-8?B?${Buffer.from(chunk).toString('base64')}?=`);
  return words;
}

/** Header text as is when short printable ASCII that can't be read as an encoded word; else encoded words. */
function headerWords(text: string, room: number): string[] {
  if (text.length <= room && PRINTABLE_ASCII.test(text) && !text.includes('=?')) return [text];
  return encodedWords(text);
}

function mailbox(m: SimpleMailbox): string {
  if (!m.name) return m.address;
  if (m.name.includes('=?')) return `${encodedWords(m.name).join(' ')} <${m.address}>`;
  if (ATOMS.test(m.name) && m.name.trim() === m.name && m.name.length <= 60) return `${m.name} <${m.address}>`;
  if (PRINTABLE_ASCII.test(m.name) && m.name.length <= 60) {
    return `"${m.name.replace(/["\\]/g, '\\$&')}" <${m.address}>`; // RFC 5322 §3.2.4 quoted-string
  }
  return `${encodedWords(m.name).join(' ')} <${m.address}>`; // RFC 2047 §5(3): encoded words in a phrase
}

/** `Name: a, b, …` folded before an item when the line would pass 78 characters (RFC 5322 §2.2.3). */
function foldedHeader(name: string, items: readonly string[], separator: string): string {
  let out = `${name}:`;
  let line = out.length;
  items.forEach((item, i) => {
    const piece = (i < items.length - 1 ? item + separator : item);
    if (i > 0 && line + 1 + piece.length > 78) {
      out += `${CRLF} ${piece}`;
      line = 1 + piece.length;
    } else {
      out += ` ${piece}`;
      line += 1 + piece.length;
    }
  });
  return out + CRLF;
}

/** RFC 5322 §3.3 date-time in UTC. */
function dateHeader(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** A body part: 7bit when ASCII with lines ≤ 998 octets (RFC 5322 §2.1.1), else base64 in 76-char lines (RFC 2045 §6.8). */
function bodyPart(type: 'plain' | 'html', body: string): { headers: string; content: string } {
  const contentType = `Content-Type: text/${type}; charset=utf-8${CRLF}`;
  if (!NON_ASCII.test(body) && !body.includes('\0') && !body.split(CRLF).some((line) => line.length > 998)) {
    return { headers: `${contentType}Content-Transfer-Encoding: 7bit${CRLF}`, content: body.endsWith(CRLF) ? body : body + CRLF };
  }
  const b64 = Buffer.from(body).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return { headers: `${contentType}Content-Transfer-Encoding: base64${CRLF}`, content: lines.join(CRLF) + CRLF };
}

/** True when `simpleMime` can build this message. */
export function isSimpleContent(content: SimpleContent & { headers?: unknown; attachments?: readonly unknown[] | undefined; bcc?: readonly SimpleMailbox[] | undefined }): boolean {
  if (content.headers !== undefined && Object.keys(content.headers as object).length > 0) return false;
  if ((content.attachments?.length ?? 0) > 0) return false;
  // MailComposer leaves out an empty part; so do we, but a message needs one part.
  if (!content.text && !content.html) return false;
  const all = [content.from, ...(content.to ?? []), ...(content.cc ?? []), ...(content.bcc ?? []), ...(content.reply_to ?? [])];
  // UTF-8 local parts go out raw in MailComposer (RFC 6532); leave them to it.
  return all.every((m) => !m.utf8 && !NON_ASCII.test(m.address));
}

/**
 * The multipart boundary: random, or with `seed` the same every time (a message made again
 * when it is sent, campaigns/campaign-body.ts). "=_" cannot occur in base64, and a 7bit part
 * is checked for it (RFC 2046 §5.1.1: the boundary must not appear in the parts).
 */
function boundaryFor(parts: ReadonlyArray<{ content: string }>, seed: string | undefined): string {
  for (let i = 0; ; i++) {
    const b = `=_postline_${seed === undefined ? randomUUID() : createHash('sha256').update(`${i}:${seed}`).digest('hex').slice(0, 32)}`;
    if (!parts.some((p) => p.content.includes(b))) return b;
  }
}

/**
 * Builds the message. Bcc is never written (RFC 5322 §3.6.3). Call only when isSimpleContent().
 * With `boundarySeed` the same content, id and date give the same bytes.
 */
export function simpleMime(content: SimpleContent, messageId: string, date: Date, boundarySeed?: string): Buffer {
  let head = foldedHeader('From', [mailbox(content.from)], '');
  if (content.to?.length) head += foldedHeader('To', content.to.map(mailbox), ',');
  if (content.cc?.length) head += foldedHeader('Cc', content.cc.map(mailbox), ',');
  if (content.reply_to?.length) head += foldedHeader('Reply-To', content.reply_to.map(mailbox), ',');
  if (content.subject) head += foldedHeader('Subject', headerWords(content.subject, 68), '');
  head += `Message-ID: ${messageId}${CRLF}Date: ${dateHeader(date)}${CRLF}MIME-Version: 1.0${CRLF}`;
  const parts: Array<{ headers: string; content: string }> = [];
  if (content.text) parts.push(bodyPart('plain', content.text));
  if (content.html) parts.push(bodyPart('html', content.html));
  if (parts.length === 1) return Buffer.from(`${head}${parts[0].headers}${CRLF}${parts[0].content}`);
  const boundary = boundaryFor(parts, boundarySeed);
  let out = `${head}Content-Type: multipart/alternative;${CRLF} boundary="${boundary}"${CRLF}${CRLF}`;
  for (const part of parts) out += `--${boundary}${CRLF}${part.headers}${CRLF}${part.content}`;
  return Buffer.from(`${out}--${boundary}--${CRLF}`);
}
