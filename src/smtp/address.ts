// Mailbox parsing for the envelope (RFC 5321 §4.1.2, RFC 6531 §3.3 for UTF-8). Kept strict:
// source routes, percent hacks and `!` paths are refused rather than interpreted, because
// those are the shapes classic open-relay tests use.
import { domainToASCII } from 'node:url';

export interface ParsedAddress {
  readonly localPart: string;
  /** The domain in lower-case A-label form (IDNA), as DNS and our tables see it. */
  readonly domain: string;
  /** localPart@domain, with the domain in A-label form. */
  readonly address: string;
  /** True when the local part has non-ASCII characters (needs SMTPUTF8). */
  readonly utf8: boolean;
}

const DOT_ATOM = /^[A-Za-z0-9!#$&'*+\-/=?^_`{|}~\u0080-\uFFFF]+(\.[A-Za-z0-9!#$&'*+\-/=?^_`{|}~\u0080-\uFFFF]+)*$/u;
const QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uFFFF]|\\[\x20-\x7e])*"$/u;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Recent answers of normaliseDomain: the same few domains (gmail.com, the tenant's own) come
 * back with nearly every recipient, and domainToASCII (the WHATWG host parser) was ~4 % of
 * a campaign expansion's CPU. Bounded; emptied when full.
 */
const normalised = new Map<string, string>();
const MAX_NORMALISED = 10_000;

/** Lower-cases and converts to A-labels; returns '' when the domain is not a valid host name. */
export function normaliseDomain(domain: string): string {
  let out = normalised.get(domain);
  if (out === undefined) {
    out = normaliseDomainUncached(domain);
    if (normalised.size >= MAX_NORMALISED) normalised.clear();
    normalised.set(domain, out);
  }
  return out;
}

function normaliseDomainUncached(domain: string): string {
  const trimmed = domain.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.length > 253) return '';
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii) return '';
  const labels = ascii.split('.');
  if (labels.length < 2) return '';
  // RFC 1123 §2.1 / RFC 3696 §2: a top-level label is never all-numeric, so this is an IPv4
  // address without the brackets of an address literal (RFC 5321 §4.1.3) — also what the
  // WHATWG host parser makes of `127.1` or `0x7f.1`. Refused like any IP literal.
  if (/^\d+$/.test(labels[labels.length - 1])) return '';
  return labels.every((l) => LABEL.test(l)) ? ascii : '';
}

/**
 * Parses `local@domain`. Returns undefined for anything that is not a plain mailbox with
 * a host name domain: IP literals, source routes (`@a:b@c`), `%` and `!` routing.
 */
export function parseAddress(input: string): ParsedAddress | undefined {
  if (input.length > 320) return undefined;
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) return undefined;
  const localPart = input.slice(0, at);
  const domain = normaliseDomain(input.slice(at + 1));
  if (!domain) return undefined;
  // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
  if (Buffer.byteLength(localPart) > 64) return undefined;
  const quoted = QUOTED.test(localPart);
  if (!quoted && !DOT_ATOM.test(localPart)) return undefined;
  // Relay hacks hidden in the local part: user%other@host, host!user, @route:.
  const bare = quoted ? localPart.slice(1, -1) : localPart;
  if (/[%!@:]/.test(bare)) return undefined;
  // eslint-disable-next-line no-control-regex
  const utf8 = /[^\x00-\x7f]/.test(localPart);
  return { localPart, domain, address: `${localPart}@${domain}`, utf8 };
}

/** The normalised domain of an address, or '' when it has none. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : normaliseDomain(address.slice(at + 1));
}
