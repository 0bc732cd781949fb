// RFC 8689, the sender's say over outbound TLS. REQUIRETLS (MAIL FROM parameter, stored with
// the message): every host needs STARTTLS with a certificate valid for its MX name, the hop
// must advertise REQUIRETLS (smtp-client.ts checks and passes the parameter on), and a
// message that cannot meet that fails for good with 5.7.30 (§5), never falls back.
// `TLS-Required: No` (header field, §5): MTA-STS policy failures are ignored for the message.
import type { Readable } from 'node:stream';
import type { DeliveryHost } from './delivery-target.ts';

/** What a REQUIRETLS hop failure reads as (RFC 8689 §5; RFC 3463 X.7.30 "REQUIRETLS support required"). */
export const REQUIRETLS_ENHANCED = '5.7.30';

/** RFC 8689 §4.2.1: every host needs verified TLS; no plaintext retry (the pool skips it for `verify`). */
export function requireVerifiedTls(hosts: readonly DeliveryHost[]): DeliveryHost[] {
  return hosts.map((h) => ({ ...h, tls: 'verify' }));
}

interface TlsOutcome {
  readonly status: 'delivered' | 'deferred' | 'bounced';
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string;
}

/**
 * RFC 8689 §5: for a REQUIRETLS message a TLS failure (no STARTTLS, a certificate not valid
 * for the MX: the pool's X.7.5 deferral) is final: 550 5.7.30. Network trouble stays a deferral.
 */
export function requireTlsOutcome<T extends TlsOutcome>(outcome: T): T {
  if (outcome.status !== 'deferred' || outcome.code !== null || !outcome.enhanced?.endsWith('.7.5')) return outcome;
  const why = outcome.response.replace(/^TLS required by the MTA-STS policy: /, '');
  return { ...outcome, status: 'bounced', code: 550, enhanced: REQUIRETLS_ENHANCED, response: `550 ${REQUIRETLS_ENHANCED} REQUIRETLS support required: ${why}` };
}

// Header fields are read up to here at most (the header section is almost always far smaller).
const MAX_HEADER_BYTES = 256 * 1024;

/**
 * RFC 8689 §5: whether the header section has `TLS-Required: No`. Read only when a policy
 * would refuse or restrict the attempt; a spooled body is read up to the end of its header.
 */
export async function hasTlsRequiredNo(body: () => Buffer | Readable): Promise<boolean> {
  const source = body();
  let head: Buffer;
  if (Buffer.isBuffer(source)) head = source.subarray(0, MAX_HEADER_BYTES);
  else {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of source) {
        const b = chunk as Buffer;
        chunks.push(b);
        size += b.length;
        if (size >= MAX_HEADER_BYTES || b.includes('\r\n\r\n') || b.includes('\n\n')) break;
      }
    } finally {
      source.destroy();
    }
    head = Buffer.concat(chunks, size);
  }
  const text = head.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const header = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  // RFC 8689 §5: the only defined value is "No", compared case-insensitively.
  return /^TLS-Required:[ \t]*No[ \t]*$/im.test(header);
}
