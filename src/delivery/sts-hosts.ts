// What a domain's MTA-STS policy does to its MX hosts (RFC 8461 §4, §5): `enforce` keeps only
// the hosts the policy lists and requires STARTTLS with a certificate valid for each
// (`tls: verify`), deferring when none is listed; `testing` changes nothing but reports the
// hosts and certificates that would have failed (§5 "report" only); `none` or no policy:
// opportunistic TLS.
import type { DeliveryHost } from './delivery-target.ts';
import { MtaStsPolicies, type MtaStsLookup, type MtaStsPolicy } from './mta-sts.ts';

export interface StsDecision {
  readonly policy: MtaStsPolicy | null;
  /** The hosts to try, with the TLS each needs. */
  readonly hosts: DeliveryHost[];
  /** Set when `enforce` leaves no host: the deferral text. */
  readonly refusal: string | null;
  /** For the events, before the attempt; see stsEventField for after. */
  readonly eventField: Record<string, unknown> | null;
}

export function applyMtaSts(domain: string, lookup: MtaStsLookup, hosts: readonly DeliveryHost[]): StsDecision {
  const policy = lookup.policy;
  if (!policy || policy.mode === 'none') return { policy: null, hosts: [...hosts], refusal: null, eventField: null };
  const allowed = hosts.filter((h) => MtaStsPolicies.allows(policy, h.host));
  const base = { mode: policy.mode, policy_id: policy.id };
  if (policy.mode === 'enforce') {
    if (allowed.length === 0) {
      const names = [...new Set(hosts.map((h) => h.host))].join(', ');
      const failure = `MTA-STS policy of ${domain} (enforce, id ${policy.id}) lists none of its MX hosts (${names}); allowed: ${policy.mx.join(', ')}`;
      return { policy, hosts: [], refusal: `${failure} (RFC 8461 §4.1)`, eventField: { ...base, result: 'failed', failure } };
    }
    // RFC 8461 §4.2: the certificate must be valid for the MX host, or the host is skipped.
    return { policy, hosts: allowed.map((h) => ({ ...h, tls: 'verify' })), refusal: null, eventField: { ...base, result: 'pending' } };
  }
  // testing: deliver as usual.
  return { policy, hosts: hosts.map((h) => ({ ...h, tls: 'opportunistic' })), refusal: null, eventField: { ...base, result: 'pending' } };
}

/** The `mta_sts` event field once the attempt is known: whether the host used passed the policy. */
export function stsEventField(decision: StsDecision, attempt: { mxHost: string | null; tlsVersion: string | null; tlsVerified?: boolean | null; tlsError?: string | null }, response: string | null): Record<string, unknown> | null {
  const policy = decision.policy;
  if (!policy) return null;
  const base = { mode: policy.mode, policy_id: policy.id };
  if (!attempt.mxHost) return { ...base, result: 'failed', failure: response ?? 'no MX host was reached' };
  if (!MtaStsPolicies.allows(policy, attempt.mxHost)) return { ...base, result: 'failed', failure: `MX host ${attempt.mxHost} is not listed in the policy` };
  if (!attempt.tlsVersion) return { ...base, result: 'failed', failure: response && policy.mode === 'enforce' ? response : `no TLS with ${attempt.mxHost}` };
  if (attempt.tlsVerified === false) return { ...base, result: 'failed', failure: `certificate of ${attempt.mxHost} not valid: ${attempt.tlsError ?? 'not trusted'}` };
  return { ...base, result: 'verified' };
}
