// mailauth looks records up through a function shaped like dns.promises.resolve (arrays of
// records; errors whose `code` is 'ENOTFOUND', 'ENODATA', 'ETIMEOUT', …). Our DnsResolver
// already answers that way for every type mailauth asks (TXT for SPF/DKIM/DMARC/ARC, A, AAAA and
// MX for SPF mechanisms, PTR for SPF `ptr`, CNAME for the DMARC tree walk), with Postline's
// configured servers, timeouts and cache, so the adapter only narrows the type.
import type { DnsResolver } from '../delivery/dns-resolver.ts';

/** The resolver contract of mailauth's `authenticate()` (index.d.ts `DNSResolver`). */
export type MailauthResolver = (name: string, rrtype: string) => Promise<unknown>;

/** A mailauth resolver backed by a DnsResolver; its DnsError codes are node:dns codes. */
export function mailauthResolver(dns: Pick<DnsResolver, 'resolve'>): MailauthResolver {
  return (name, rrtype) => dns.resolve(name, rrtype);
}
