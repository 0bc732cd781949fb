// What the API shows of the pools (GET /api/v1/ip-pools[/{name}]) and of a tenant's quota,
// read from the store: each address's warm-up day and caps, what it sent today and this hour,
// and the throttles in force for it. Counts are those written by the delivery threads (about
// once a second), so they trail live traffic by that much.
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { activeIpThrottles, ipCountsSince, listIpPools, tenantCountsSince, warmupStarts, type Database, type TenantSendingTable } from '../store/index.ts';
import { configuredPools, mergePools, type IpPool } from './pool-directory.ts';
import { dayStart, hourStart, warmupCap } from './warmup.ts';

export interface AddressReport {
  readonly address: string;
  readonly hostname: string;
  readonly weight: number;
  readonly warmup: boolean;
  readonly family: 4 | 6;
  readonly addedAt: number | null;
  readonly warmupStartedAt: number | null;
  /** Days since day 0; null for an address that does not warm up. */
  readonly warmupDay: number | null;
  readonly dailyCap: number | null;
  readonly hourlyCap: number | null;
  readonly sentToday: number;
  readonly sentThisHour: number;
  readonly throttles: ReadonlyArray<{ destination: string; kind: string; until: number; reason: string | null }>;
}

export interface PoolReport {
  readonly name: string;
  readonly source: 'config' | 'api';
  readonly addresses: readonly AddressReport[];
}

/** Every pool (configured and stored), or only `name`'s. */
export async function loadPools(db: Kysely<Database>, config: Readonly<Config>): Promise<IpPool[]> {
  return mergePools(configuredPools(config.ip_pools), await listIpPools(db));
}

export async function reportPools(db: Kysely<Database>, config: Readonly<Config>, pools: readonly IpPool[], now = Date.now()): Promise<PoolReport[]> {
  const addresses = [...new Set(pools.flatMap((p) => p.members.map((m) => m.address)))];
  const [starts, counts, throttles] = await Promise.all([
    warmupStarts(db, addresses),
    ipCountsSince(db, dayStart(now), addresses),
    activeIpThrottles(db, now, addresses),
  ]);
  const w = config.ip_pools.warmup;
  const schedule = { dailyStart: w.daily_start, dailyGrowth: w.daily_growth, dailyFull: w.daily_full, hourlyShare: w.hourly_share };
  return pools.map((p) => ({
    name: p.name,
    source: p.source,
    addresses: p.members.map((m) => {
      const startedAt = m.warmupStart ?? starts.get(m.address) ?? null;
      const cap = m.warmup ? warmupCap(schedule, startedAt ?? now, now) : null;
      const mine = counts.filter((c) => c.address === m.address);
      return {
        address: m.address, hostname: m.hostname, weight: m.weight, warmup: m.warmup, family: m.family, addedAt: m.addedAt,
        warmupStartedAt: startedAt, warmupDay: cap?.day ?? null, dailyCap: cap?.daily ?? null, hourlyCap: cap?.hourly ?? null,
        sentToday: mine.reduce((n, c) => n + c.n, 0),
        sentThisHour: mine.filter((c) => c.hour === hourStart(now)).reduce((n, c) => n + c.n, 0),
        throttles: throttles.filter((t) => t.address === m.address).map((t) => ({ destination: t.destination, kind: t.kind, until: t.until, reason: t.reason })),
      };
    }),
  }));
}

export interface QuotaReport {
  readonly perHour: number | null;
  readonly perDay: number | null;
  readonly sentThisHour: number;
  readonly sentToday: number;
}

export async function reportQuota(db: Kysely<Database>, tenantId: string, sending: TenantSendingTable | null, now = Date.now()): Promise<QuotaReport> {
  const counts = await tenantCountsSince(db, dayStart(now), [tenantId]);
  return {
    perHour: sending?.quota_per_hour ?? null,
    perDay: sending?.quota_per_day ?? null,
    sentThisHour: counts.filter((c) => c.hour === hourStart(now)).reduce((n, c) => n + c.n, 0),
    sentToday: counts.reduce((n, c) => n + c.n, 0),
  };
}
