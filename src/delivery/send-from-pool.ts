// The SMTP part of an attempt when IP pools and pacing apply: choose the source address(es)
// now (src/pools/source-selector.ts), wait briefly when the destination's pace asks for it
// (throttling.max_wait) or defer to the time it allows, bind each host's connection to the
// address of its family (IPv6 hosts from IPv6 pool members, else IPv4), greet with that
// address's hostname, and read the replies for what they say about the address: a
// rate-limit reply starts a back-off, a 5.7.x block moves the recipients to another address.
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttemptReport, DeliveryHost } from './delivery-target.ts';
import type { RecipientOutcome } from './smtp-client.ts';
import type { GroupAttempt, GroupDeps, GroupMessage, GroupOutcome, GroupRecipient } from './deliver-group.ts';
import type { AcquireRequest, Destination, IpPool, OutboundPools, SourceChoice, SourceLease } from '../pools/index.ts';

export interface SourcedResult {
  readonly outcomes: GroupOutcome[];
  readonly attempt: GroupAttempt;
  /** A session with a remote host was set up (the quota counts the recipients). */
  readonly sent: boolean;
}

type Earlier = NonNullable<GroupOutcome['earlier']>[number];

export async function sendFromPool(domain: string, message: GroupMessage, recipients: readonly GroupRecipient[], hosts: readonly DeliveryHost[], deps: GroupDeps): Promise<SourcedResult> {
  const started = Date.now();
  const relay = deps.router.relayhost;
  const pools = deps.pools;
  if (!pools) {
    const { outcomes, attempt } = await deps.pool.deliver({ destination: relay ? `relay:${relay}` : domain, hosts }, outbound(message, recipients), deps.signal);
    const a = groupAttempt(attempt, null, {});
    return { outcomes: outcomes.map((o) => toOutcome(o)), attempt: a, sent: attempt.tlsOutcome !== null };
  }
  const pool = pools.poolFor(message.tenantId ?? null, message.stream ?? null);
  const destination = pools.destinationFor(domain, hosts.map((h) => h.host), relay);
  const want = { v4: hosts.some((h) => isIP(h.address) !== 6), v6: hosts.some((h) => isIP(h.address) === 6) };
  const exclude = new Set<string>();
  const done: GroupOutcome[] = [];
  const earlier = new Map<number, Earlier[]>();
  const blockedSources: Array<{ source_ip: string | null; response: string }> = [];
  let pending = [...recipients];
  let fallback: GroupOutcome[] = [];
  let last: GroupAttempt | null = null;
  let sent = false;
  while (pending.length > 0) {
    const choice = await choose(pools, { pool, destination, want, recipients: pending.length, exclude, now: Date.now() }, deps.signal);
    if (choice.kind !== 'sources') {
      // After a block: no other address at all, so the refusal stands as the remote gave it.
      if (choice.kind === 'none' && fallback.length > 0) done.push(...fallback);
      else done.push(...held(pending, choice, destination, started, pool, blockedSources));
      break;
    }
    const leases = [choice.v6, choice.v4, choice.any].filter((l): l is SourceLease => l !== null);
    const targetHosts = hosts.flatMap((h) => {
      const lease = choice.any ?? (isIP(h.address) === 6 ? choice.v6 : choice.v4);
      if (!lease) return [];
      return [{ ...h, localAddress: lease.source.address ?? undefined, ehloName: lease.source.hostname ?? undefined }];
    });
    const { outcomes, attempt } = await deps.pool.deliver({
      destination: destination.key, hosts: targetHosts,
      maxConnections: Math.min(...leases.map((l) => l.maxConnections)),
      maxMessagesPerConnection: Math.min(...leases.map((l) => l.maxMessagesPerConnection)),
    }, outbound(message, pending), deps.signal);
    const used = leases.find((l) => (l.source.address ?? null) === attempt.localAddress) ?? leases[0];
    const connected = attempt.tlsOutcome !== null;
    sent ||= connected;
    for (const lease of leases) lease.settle(connected && lease === used);
    // What the replies say about the address: one observation per distinct reply.
    let throttle: Record<string, unknown> | null = null;
    const blocked = new Set<number>();
    const seen = new Map<string, ReturnType<OutboundPools['observe']>>();
    for (const o of outcomes) {
      if (o.status === 'delivered' || o.smtpCode === null) continue;
      if (!seen.has(o.response)) seen.set(o.response, pools.observe(used, destination, { code: o.smtpCode, enhanced: o.enhanced, response: o.response }));
      const observed = seen.get(o.response);
      if (!observed) continue;
      throttle = { reason: observed.signal === 'ip-block' ? 'blocked' : 'backoff', destination: destination.key, source_ip: used.source.address, until: new Date(observed.record.until).toISOString() };
      if (observed.signal === 'ip-block' && pool && used.source.address) blocked.add(Number(o.id));
    }
    const a = groupAttempt(attempt, pool, throttle ? { throttled: true, throttle } : used.slowed ? { throttled: true, throttle: { reason: 'backoff', destination: destination.key, source_ip: used.source.address } } : {});
    last = a;
    if (blocked.size > 0) {
      // Another address of the pool gets the blocked recipients now; the refused try is kept as an attempt row.
      exclude.add(used.source.address!);
      for (const o of outcomes) {
        if (!blocked.has(Number(o.id))) done.push(toOutcome(o, a));
        else earlier.set(Number(o.id), [...(earlier.get(Number(o.id)) ?? []), { attempt: a, code: o.smtpCode, enhanced: o.enhanced, response: o.response }]);
      }
      blockedSources.push({ source_ip: used.source.address, response: outcomes.find((o) => blocked.has(Number(o.id)))!.response });
      fallback = outcomes.filter((o) => blocked.has(Number(o.id))).map((o) => toOutcome(o, a));
      pending = pending.filter((r) => blocked.has(r.id));
      continue;
    }
    done.push(...outcomes.map((o) => toOutcome(o, a)));
    break;
  }
  const withHistory = done.map((o) => {
    const history = earlier.get(o.id);
    if (!history) return o;
    const attempt = o.attempt ? { ...o.attempt, eventFields: { ...o.attempt.eventFields, blocked_sources: blockedSources } } : o.attempt;
    return { ...o, earlier: history, ...(attempt ? { attempt } : {}) };
  });
  return { outcomes: withHistory, attempt: last ?? withHistory.find((o) => o.attempt)?.attempt ?? emptyAttempt(started, pool, {}), sent };
}

// Holds shorter than throttling.max_wait are waited out here; longer ones defer.
async function choose(pools: OutboundPools, request: AcquireRequest, signal: AbortSignal | undefined): Promise<SourceChoice> {
  let choice = pools.selector.acquire(request);
  for (let i = 0; i < 50 && choice.kind === 'hold' && !signal?.aborted; i++) {
    const wait = choice.until - Date.now();
    if (wait > pools.maxWaitMs) break;
    try {
      await sleep(Math.max(1, wait), undefined, { signal });
    } catch {
      break;
    }
    choice = pools.selector.acquire({ ...request, now: Date.now() });
  }
  return choice;
}

function held(pending: readonly GroupRecipient[], choice: Exclude<SourceChoice, { kind: 'sources' }>, destination: Destination, started: number, pool: IpPool | null, blockedSources: unknown[]): GroupOutcome[] {
  const until = choice.kind === 'hold' ? choice.until : undefined;
  const response = `Deferred by Postline: ${choice.detail}${until ? `; next try at ${new Date(until).toISOString()}` : ''}`;
  const throttle = { reason: choice.kind === 'hold' ? choice.reason : 'no-source', destination: destination.key, ...(until ? { until: new Date(until).toISOString() } : {}) };
  const attempt = emptyAttempt(started, pool, { throttled: true, throttle, ...(blockedSources.length ? { blocked_sources: blockedSources } : {}) });
  return pending.map((r) => ({ id: r.id, status: 'deferred', code: null, enhanced: '4.7.0', response, attempt, ...(until ? { retryAt: until } : {}) }));
}

function emptyAttempt(started: number, pool: IpPool | null, eventFields: Record<string, unknown>): GroupAttempt {
  return { mxHost: null, ip: null, port: null, tlsVersion: null, tlsCipher: null, durationMs: Date.now() - started, remoteSupportsDsn: false, sourceIp: null, pool: pool?.name ?? null, tlsOutcome: null, eventFields };
}

function groupAttempt(a: AttemptReport, pool: IpPool | null, eventFields: Record<string, unknown>): GroupAttempt & { tlsVerified: boolean | null; tlsError: string | null } {
  return {
    mxHost: a.mxHost, ip: a.address, port: a.port, tlsVersion: a.tlsVersion, tlsCipher: a.tlsCipher, durationMs: a.durationMs, remoteSupportsDsn: a.remoteSupportsDsn,
    sourceIp: a.localAddress, pool: pool?.name ?? null, tlsOutcome: a.tlsOutcome, tlsVerified: a.tlsAuthorized, tlsError: a.tlsAuthError, eventFields,
  };
}

function toOutcome(o: RecipientOutcome, attempt?: GroupAttempt): GroupOutcome {
  return { id: Number(o.id), status: o.status, code: o.smtpCode, enhanced: o.enhanced, response: o.response, ...(attempt ? { attempt } : {}) };
}

function outbound(message: GroupMessage, recipients: readonly GroupRecipient[]) {
  return {
    mailFrom: message.mailFrom,
    recipients: recipients.map((r) => ({ id: r.id, address: r.rcpt, notify: r.notify ? r.notify.split(',') : null, orcpt: r.orcpt })),
    size: message.size,
    body: message.body,
    envid: message.envid,
    ret: message.ret,
    smtputf8: message.smtputf8,
    eightBitMime: true,
    requireTls: message.requireTls === true,
  };
}
