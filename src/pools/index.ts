// IP pools, pacing and quotas: what delivery (src/delivery/deliver-group.ts) asks before and
// after each attempt, and what the API reports (src/api/routes/ip-pools.ts).
export { OutboundPools } from './outbound-pools.ts';
export type { OutboundPoolsOptions, ThrottleOutcome, PoolsLogger } from './outbound-pools.ts';
export { DestinationRules, DEFAULT_PROVIDERS } from './destination.ts';
export type { Destination, ThrottleLimits, ProviderRule } from './destination.ts';
export { PoolDirectory, configuredPools, mergePools } from './pool-directory.ts';
export type { IpPool, PoolMember, TenantSending } from './pool-directory.ts';
export { SourceSelector } from './source-selector.ts';
export type { SourceAddress, SourceLease, SourceChoice, HoldReason, AcquireRequest } from './source-selector.ts';
export { TenantQuotas } from './tenant-quota.ts';
export type { QuotaCheck, QuotaUsage } from './tenant-quota.ts';
export { ThrottleState } from './throttle-state.ts';
export type { ThrottleRecord, ThrottleKind } from './throttle-state.ts';
export { throttleSignal } from './throttle-signals.ts';
export type { ThrottleSignal } from './throttle-signals.ts';
export { warmupCap, hourStart, dayStart, parseDay, HOUR_MS, DAY_MS } from './warmup.ts';
export type { WarmupSchedule, WarmupCap } from './warmup.ts';
export { HourlyCounter } from './hourly-counter.ts';
export { loadPools, reportPools, reportQuota } from './pool-report.ts';
export type { PoolReport, AddressReport, QuotaReport } from './pool-report.ts';
export { checkAddress, reverseName } from './reverse-dns.ts';
export type { AddressCheck } from './reverse-dns.ts';
