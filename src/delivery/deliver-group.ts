// One delivery attempt for the recipients of one message at one domain: the tenant's quota,
// route (RFC 5321 §5.1), the domain's MTA-STS policy (RFC 8461), the destination's pacing,
// a source address chosen now from the message's pool, then a single SMTP transaction
// (RFC 5321 §3.3) over a pooled connection. A 5.7.x block of the source address moves the
// recipients to another address of the pool in the same attempt. Never throws for remote
// trouble: every recipient comes back with an outcome.
import type { Readable } from 'node:stream';
import type { ConnectionPool } from './connection-pool.ts';
import type { DeliveryHost } from './delivery-target.ts';
import { routeFor, type RouterOptions } from './route.ts';
import type { MtaStsPolicies } from './mta-sts.ts';
import { applyMtaSts, stsEventField, type StsDecision } from './sts-hosts.ts';
import { sendFromPool, type SourcedResult } from './send-from-pool.ts';
import { hasTlsRequiredNo, requireTlsOutcome, requireVerifiedTls } from './require-tls.ts';
import type { OutboundPools } from '../pools/index.ts';
import type { Stream } from '../store/index.ts';

export interface GroupRecipient {
  readonly id: number;
  readonly rcpt: string;
  readonly notify: string | null;
  readonly orcpt: string | null;
}

export interface GroupMessage {
  readonly id: string;
  readonly mailFrom: string;
  readonly size: number;
  readonly body: () => Buffer | Readable;
  readonly envid: string | null;
  readonly ret: 'FULL' | 'HDRS' | null;
  readonly smtputf8: boolean;
  /** Whose pool and quota apply; absent: none. */
  readonly tenantId?: string | null;
  readonly stream?: Stream | null;
  /** RFC 8689 REQUIRETLS: verified TLS to REQUIRETLS hops only, else 550 5.7.30 (require-tls.ts). */
  readonly requireTls?: boolean;
}

export interface GroupOutcome {
  readonly id: number;
  readonly status: 'delivered' | 'deferred' | 'bounced';
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly response: string;
  /** Deferred by our own pacing: the time it may go (instead of the retry schedule). */
  readonly retryAt?: number;
  /** The attempt that decided this recipient, when it is not the group's (another source address). */
  readonly attempt?: GroupAttempt;
  /** Tries earlier in this attempt from addresses the destination blocked (recorded as attempt rows). */
  readonly earlier?: ReadonlyArray<{ readonly attempt: GroupAttempt; readonly code: number | null; readonly enhanced: string | null; readonly response: string }>;
}

export interface GroupAttempt {
  readonly mxHost: string | null;
  readonly ip: string | null;
  readonly port: number | null;
  readonly tlsVersion: string | null;
  readonly tlsCipher: string | null;
  readonly durationMs: number;
  readonly remoteSupportsDsn: boolean;
  /** Kept by capture mode instead of sent. */
  readonly captured?: boolean;
  /** The local address the connection was bound to; null: the host's default. */
  readonly sourceIp?: string | null;
  readonly pool?: string | null;
  /** starttls, starttls-verified, plaintext, plaintext-after-tls-failure; null when no session was set up. */
  readonly tlsOutcome?: string | null;
  /** Whether the certificate was valid for the MX host (null in plaintext); for MTA-STS reports. */
  readonly tlsVerified?: boolean | null;
  readonly tlsError?: string | null;
  /** Added to the attempt's events: `throttled`/`throttle`, `mta_sts`, `blocked_sources`. */
  readonly eventFields?: Readonly<Record<string, unknown>>;
}

export interface GroupDeps {
  readonly pool: ConnectionPool;
  readonly router: RouterOptions;
  readonly port: number;
  readonly signal?: AbortSignal;
  /** IP pools, pacing and quotas; absent: the host's default address, no pacing. */
  readonly pools?: OutboundPools;
  /** MTA-STS policies; absent: opportunistic TLS only. */
  readonly mtaSts?: MtaStsPolicies;
}

export async function deliverGroup(domain: string, message: GroupMessage, recipients: readonly GroupRecipient[], deps: GroupDeps): Promise<{ outcomes: GroupOutcome[]; attempt: GroupAttempt }> {
  const started = Date.now();
  const quota = deps.pools?.quotas.take(message.tenantId ?? null, recipients.length, started);
  if (quota && !quota.ok) {
    return deferAll(recipients, started, `Deferred by Postline: ${quota.detail}; next try at ${new Date(quota.until).toISOString()}`, '4.7.0', quota.until, {
      throttled: true, throttle: { reason: 'quota', until: new Date(quota.until).toISOString() },
    });
  }
  let sent = false;
  try {
    const route = await routeFor(domain, deps.router);
    if (!route.ok) {
      return {
        outcomes: recipients.map((r) => ({ id: r.id, status: route.permanent ? 'bounced' : 'deferred', code: null, enhanced: route.enhanced, response: route.message })),
        attempt: emptyAttempt(started),
      };
    }
    const hosts: DeliveryHost[] = route.hosts.map((h) => ({ host: h.host, address: h.address, port: h.port ?? deps.port }));
    let sts: StsDecision | null = null;
    let ignored: StsDecision | null = null;
    if (deps.mtaSts && !deps.router.relayhost) {
      sts = applyMtaSts(domain, await deps.mtaSts.lookup(domain), hosts);
      // RFC 8689 §5: `TLS-Required: No` asks that policy failures be ignored: opportunistic TLS
      // to every MX. A REQUIRETLS message ignores the field (§5). Read only when it matters.
      const restricts = sts.refusal !== null || sts.hosts.some((h) => h.tls === 'verify');
      if (restricts && !message.requireTls && await hasTlsRequiredNo(message.body)) {
        ignored = sts;
        sts = null;
      } else if (sts.refusal) return deferAll(recipients, started, sts.refusal, '4.7.5', undefined, { mta_sts: sts.eventField });
    }
    const target = message.requireTls ? requireVerifiedTls(sts?.hosts ?? hosts) : sts?.hosts ?? hosts;
    const sourced: SourcedResult = await sendFromPool(domain, message, recipients, target, deps);
    sent = sourced.sent;
    const result = message.requireTls ? { ...sourced, outcomes: sourced.outcomes.map(requireTlsOutcome) } : sourced;
    if (ignored?.policy) return withTlsRequiredNo(result, ignored);
    if (!sts?.policy) return result;
    // RFC 8461 §5: the outcome of the policy for the host used, in the events (testing: report only).
    const decision = sts;
    const withSts = (a: GroupAttempt, response: string | null): GroupAttempt => ({ ...a, eventFields: { ...a.eventFields, mta_sts: stsEventField(decision, a, response) } });
    return {
      outcomes: result.outcomes.map((o) => ({ ...o, attempt: withSts(o.attempt ?? result.attempt, o.status === 'delivered' ? null : o.response) })),
      attempt: withSts(result.attempt, null),
    };
  } finally {
    if (quota?.ok) quota.settle(sent);
  }
}

// The attempt records that the sender waived the policy: `mta_sts.result: ignored` and the TLS outcome.
function withTlsRequiredNo(result: SourcedResult, ignored: StsDecision): { outcomes: GroupOutcome[]; attempt: GroupAttempt } {
  const policy = ignored.policy!;
  const mark = (a: GroupAttempt): GroupAttempt => ({
    ...a,
    tlsOutcome: a.tlsOutcome ? `${a.tlsOutcome} (TLS-Required: No)` : a.tlsOutcome,
    eventFields: { ...a.eventFields, mta_sts: { mode: policy.mode, policy_id: policy.id, result: 'ignored', reason: 'TLS-Required: No (RFC 8689 §5)' } },
  });
  return { outcomes: result.outcomes.map((o) => ({ ...o, attempt: mark(o.attempt ?? result.attempt) })), attempt: mark(result.attempt) };
}

export function emptyAttempt(started: number, extra: Partial<GroupAttempt> = {}): GroupAttempt {
  return { mxHost: null, ip: null, port: null, tlsVersion: null, tlsCipher: null, durationMs: Date.now() - started, remoteSupportsDsn: false, ...extra };
}

/** Every recipient deferred by our own decision (quota, pacing, policy), without contacting anyone. */
export function deferAll(recipients: readonly GroupRecipient[], started: number, response: string, enhanced: string, retryAt: number | undefined, eventFields: Record<string, unknown>, extra: Partial<GroupAttempt> = {}): { outcomes: GroupOutcome[]; attempt: GroupAttempt } {
  return {
    outcomes: recipients.map((r) => ({ id: r.id, status: 'deferred', code: null, enhanced, response, ...(retryAt !== undefined ? { retryAt } : {}) })),
    attempt: emptyAttempt(started, { eventFields, ...extra }),
  };
}
