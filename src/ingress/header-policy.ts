// Header edits at intake. Every listener prepends Received (RFC 5321 §4.4); submission
// also adds Message-ID and Date when missing and removes Bcc (RFC 6409 §8), checks From:
// against the tenant's domains, and strips our own X-Postline-* control headers. A tenant's
// X-Postline-Idempotency-Key (idempotency.ts) is read into facts and never stored.
import addressparser from 'nodemailer/lib/addressparser';
import { smtpError, domainOf } from '../smtp/index.ts';
import type { IntakeHeaders } from './message-intake.ts';
import { IDEMPOTENCY_HEADER, parseIdempotencyKey } from './idempotency.ts';
import type { ListenerKind, SessionUser } from './session-policy.ts';

export interface ReceivedInfo {
  readonly kind: ListenerKind;
  readonly hostname: string;
  readonly queueId: string;
  readonly heloName: string;
  readonly clientHostname: string;
  readonly clientAddress: string;
  readonly secure: boolean;
  readonly authenticated: boolean;
  readonly tlsProtocol: string | null;
  readonly tlsCipher: string | null;
  readonly singleRecipient: string | null;
  readonly date: Date;
}

/** RFC 5322 §3.3 date-time in UTC. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** RFC 5321 §4.4 trace header with the RFC 3848 protocol keyword. */
export function receivedHeader(info: ReceivedInfo): string {
  const protocol = `ESMTP${info.secure ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
  const client = info.clientHostname && info.clientHostname !== `[${info.clientAddress}]` ? `${info.clientHostname} ` : '';
  const tls = info.secure && info.tlsProtocol ? `\r\n\t(using ${info.tlsProtocol} with cipher ${info.tlsCipher ?? 'unknown'})` : '';
  const rcpt = info.singleRecipient ? `\r\n\tfor <${info.singleRecipient}>` : '';
  const helo = info.heloName.replace(/[^\x21-\x7e]/g, '');
  return `Received: from ${helo || 'unknown'} (${client}[${info.clientAddress}])${tls}\r\n\tby ${info.hostname} (Postline) with ${protocol} id ${info.queueId}${rcpt};\r\n\t${rfc5322Date(info.date)}\r\n`;
}

export interface HeaderFacts {
  messageId: string | null;
  subject: string | null;
  from: string | null;
  stream: 'transactional' | 'broadcast';
  isBounce: boolean;
  /** X-Postline-Idempotency-Key of a tenant's submission (null without one, or without a tenant). */
  idempotencyKey?: string | null;
}

const CONTROL_PREFIX = 'x-postline-';
/** RFC 5321 §6.3: a message that has passed this many hosts is in a loop. */
const MAX_RECEIVED_HEADERS = 50;

/**
 * Builds the header section to store and fills `facts`. Throws SmtpError when the
 * message must be refused (From: outside the tenant's domains).
 */
export function rewriteHeaders(headers: IntakeHeaders, info: ReceivedInfo, user: SessionUser | undefined, ownedFromDomains: (domains: string[]) => boolean, facts: HeaderFacts): Buffer {
  if (headers.fields.filter((f) => f.key === 'received').length >= MAX_RECEIVED_HEADERS) {
    throw smtpError('C554Loop', `Too many hops: more than ${MAX_RECEIVED_HEADERS} Received headers (mail loop)`);
  }
  facts.messageId = headers.get('message-id') ?? null;
  facts.subject = headers.get('subject') ?? null;
  facts.from = headers.get('from') ?? null;
  const autoSubmitted = headers.get('auto-submitted');
  const contentType = headers.get('content-type') ?? '';
  facts.isBounce = (!!autoSubmitted && !/^no\b/i.test(autoSubmitted)) || /^multipart\/report/i.test(contentType);
  const streamHeader = headers.get('x-postline-stream');
  if (streamHeader !== undefined) {
    if (streamHeader !== 'transactional' && streamHeader !== 'broadcast') {
      throw smtpError('C550BadContent', `X-Postline-Stream must be "transactional" or "broadcast", not "${streamHeader.slice(0, 40)}"`);
    }
    facts.stream = streamHeader;
  }
  // Only a tenant has a key space; on the MX listener without one the header is just text.
  const idempotencyHeader = user ? headers.get(IDEMPOTENCY_HEADER) : undefined;
  if (idempotencyHeader !== undefined) facts.idempotencyKey = parseIdempotencyKey(idempotencyHeader);
  const parts: Buffer[] = [Buffer.from(receivedHeader(info))];
  if (info.kind === 'submission') {
    if (!facts.from) throw smtpError('C550BadContent', 'The message has no From: header (RFC 5322 §3.6 requires one)');
    const fromDomains = addressparser(facts.from, { flatten: true }).map((a) => domainOf(a.address ?? '')).filter(Boolean);
    if (fromDomains.length === 0) throw smtpError('C550BadContent', 'The From: header holds no valid address');
    if (user && !ownedFromDomains(fromDomains)) {
      throw smtpError('C550SenderDenied', `From: ${facts.from.slice(0, 100)} is not in a domain of tenant ${user.tenant.name}`);
    }
    for (const f of headers.fields) {
      if (f.key === 'bcc' || f.key.startsWith(CONTROL_PREFIX)) continue;
      parts.push(f.raw);
    }
    if (!facts.messageId) {
      facts.messageId = `<${info.queueId}@${info.hostname}>`;
      parts.push(Buffer.from(`Message-ID: ${facts.messageId}\r\n`));
    }
    if (!headers.get('date')) parts.push(Buffer.from(`Date: ${rfc5322Date(info.date)}\r\n`));
  } else {
    for (const f of headers.fields) {
      if (user && f.key === IDEMPOTENCY_HEADER) continue;
      // RFC 8601 §5: an Authentication-Results claiming to be ours arrived from outside: forged.
      if (info.kind === 'mx' && f.key === 'authentication-results' && claimsAuthservId(f.raw, info.hostname)) continue;
      parts.push(f.raw);
    }
  }
  return Buffer.concat(parts);
}

/** True when an Authentication-Results field's authserv-id (RFC 8601 §2.2) is `hostname`. */
function claimsAuthservId(raw: Buffer, hostname: string): boolean {
  const value = raw.toString('latin1').slice(raw.indexOf(':') + 1).replace(/\([^)]*\)/g, ' ').trim();
  const id = /^[^\s;]+/.exec(value)?.[0] ?? '';
  return id.toLowerCase() === hostname.toLowerCase();
}
