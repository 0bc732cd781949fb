// The Authentication-Results field (RFC 8601) that the MX side prepends to every message it
// accepts: SPF (RFC 7208) for MAIL FROM and HELO, DKIM (RFC 6376, RFC 8463), DMARC with the
// DNS tree walk (mailauth follows RFC 9989 §4.10) and ARC (RFC 8617) when the message has a
// chain. mailauth does the cryptography and the policy; this file bounds its time and makes
// sure a result is always there, because "temperror" is a result and silence is not.
import { authenticate } from 'mailauth';
import type { DNSResolver } from 'mailauth';
import type { MailauthResolver } from './mailauth-resolver.ts';

export interface AuthenticationResultsOptions {
  /** The message as received (header and body). */
  raw: Buffer;
  /** The SMTP client's address. */
  ip: string;
  /** EHLO/HELO argument. */
  helo: string;
  /** MAIL FROM address; '' for the null reverse-path (SPF then checks postmaster@HELO, RFC 7208 §2.4). */
  mailFrom: string;
  /** Our host name: the authserv-id (RFC 8601 §2.5). */
  hostname: string;
  resolver: MailauthResolver;
  /** Budget for all lookups, ms (default 20,000). After it every lookup fails as ETIMEOUT at once. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;

/**
 * The `Authentication-Results: …` field to prepend, folded, each line ending in CRLF. Never
 * throws: DNS failures give `temperror` results (RFC 8601 §2.7), and if mailauth itself fails
 * every method is reported as temperror.
 */
export async function authenticationResults(opts: AuthenticationResultsOptions): Promise<string> {
  const authservId = token(opts.hostname) || 'localhost';
  try {
    const { headers } = await authenticate(opts.raw, {
      ip: opts.ip,
      helo: opts.helo,
      sender: opts.mailFrom,
      mta: authservId,
      resolver: withDeadline(opts.resolver, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) as DNSResolver,
      // Nothing to seal and no logo to show: only the checks the MX records.
      disableBimi: true,
      trustReceived: false,
    });
    const field = authenticationResultsField(headers);
    if (field) return field;
  } catch {
    // fall through: reported below as temperror
  }
  return fallbackField(authservId, opts.mailFrom, opts.helo);
}

/** The Authentication-Results field out of mailauth's header block (which adds Received-SPF). */
function authenticationResultsField(headers: string): string | undefined {
  const lines = headers.split(/\r?\n/);
  const start = lines.findIndex((l) => /^authentication-results:/i.test(l));
  if (start < 0) return undefined;
  const field = [lines[start]];
  // RFC 5322 §2.2.3: continuation lines start with white space.
  for (const line of lines.slice(start + 1)) {
    if (!/^[ \t]/.test(line)) break;
    field.push(line);
  }
  return `${field.join('\r\n')}\r\n`;
}

// RFC 8601 §2.7.1: temperror for each method whose check could not complete.
function fallbackField(authservId: string, mailFrom: string, helo: string): string {
  const identity = token(mailFrom) || (token(helo) ? `postmaster@${token(helo)}` : '');
  const spf = identity ? ` smtp.mailfrom=${identity}` : '';
  return [
    `Authentication-Results: ${authservId};`,
    ` spf=temperror (authentication check failed)${spf};`,
    ' dkim=temperror (authentication check failed);',
    ' dmarc=temperror (authentication check failed)',
    '',
  ].join('\r\n');
}

/** A value safe inside the field: no white space, controls, quotes, comments or separators. */
function token(value: string): string {
  return value.replace(/[^\x21-\x7e]|[";()\\<>]/g, '').slice(0, 254);
}

/**
 * A resolver that stops resolving once the budget is spent, so that a slow DNS server ends the
 * whole check rather than only our wait for it (mailauth takes no AbortSignal).
 */
function withDeadline(resolver: MailauthResolver, budgetMs: number): MailauthResolver {
  const deadline = Date.now() + budgetMs;
  return async (name, rrtype) => {
    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(name, rrtype);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(name, rrtype)), left);
      timer.unref();
    });
    try {
      return await Promise.race([resolver(name, rrtype), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function timeoutError(name: string, rrtype: string): Error & { code: string } {
  // node:dns's code for a lookup that did not answer in time; mailauth maps it to temperror.
  return Object.assign(new Error(`query${rrtype} ETIMEOUT ${name}`), { code: 'ETIMEOUT', hostname: name });
}
