// The pools in force: those declared in the configuration (read-only) and those managed
// through the API (stored), merged by name with the configuration winning; the tenants'
// pool per stream and quotas; each address's warm-up start. The delivery thread reloads it
// every `ip_pools.reload_interval`, so API changes apply without a restart.
import { isIP } from 'node:net';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { listIpPools, listTenantSending, warmupStarts, type Database, type Stream, type StoredIpPool } from '../store/index.ts';
import { parseDay } from './warmup.ts';

export interface PoolMember {
  readonly address: string;
  /** RFC 5321 §4.1.1.1: the EHLO name from this address (should match its PTR). */
  readonly hostname: string;
  readonly weight: number;
  readonly warmup: boolean;
  /** Day 0 given in the configuration (`warmup_start`); null: ip_addresses.warmup_started_at. */
  readonly warmupStart: number | null;
  readonly family: 4 | 6;
  /** When it joined the pool (API pools), ms; null for configured ones. */
  readonly addedAt: number | null;
}

export interface IpPool {
  readonly name: string;
  readonly source: 'config' | 'api';
  readonly members: readonly PoolMember[];
}

export interface TenantSending {
  readonly transactional: string | null;
  readonly broadcast: string | null;
  readonly perHour: number | null;
  readonly perDay: number | null;
}

type PoolsConfig = Config['ip_pools'];

/** The pools declared in the configuration. */
export function configuredPools(config: PoolsConfig): IpPool[] {
  return config.pools.map((p) => ({
    name: p.name,
    source: 'config' as const,
    members: p.ips.map((m) => ({
      address: m.address, hostname: m.hostname, weight: m.weight, warmup: m.warmup,
      warmupStart: m.warmup_start ? parseDay(m.warmup_start) : null, family: isIP(m.address) === 6 ? 6 as const : 4 as const, addedAt: null,
    })),
  }));
}

/** Configured pools first, then stored ones whose names the configuration does not take. */
export function mergePools(configured: readonly IpPool[], stored: readonly StoredIpPool[]): IpPool[] {
  const names = new Set(configured.map((p) => p.name));
  return [...configured, ...stored.filter((p) => !names.has(p.name)).map((p) => ({
    name: p.name,
    source: 'api' as const,
    members: p.members.map((m) => ({
      address: m.address, hostname: m.hostname, weight: m.weight, warmup: m.warmup === 1, warmupStart: null,
      family: isIP(m.address) === 6 ? 6 as const : 4 as const, addedAt: m.added_at,
    })),
  }))];
}

export class PoolDirectory {
  readonly #config: PoolsConfig;
  readonly #configured: readonly IpPool[];
  #pools = new Map<string, IpPool>();
  #tenants = new Map<string, TenantSending>();
  #starts = new Map<string, number>();

  constructor(config: PoolsConfig) {
    this.#config = config;
    this.#configured = configuredPools(config);
    this.#pools = new Map(this.#configured.map((p) => [p.name, p]));
  }

  /** Every address of every configured pool (their warm-up starts are recorded at start-up). */
  configuredAddresses(): string[] {
    return this.#configured.flatMap((p) => p.members.map((m) => m.address));
  }

  async reload(db: Kysely<Database>): Promise<void> {
    const [stored, tenants] = await Promise.all([listIpPools(db), listTenantSending(db)]);
    const pools = mergePools(this.#configured, stored);
    const starts = await warmupStarts(db, pools.flatMap((p) => p.members.map((m) => m.address)));
    this.#pools = new Map(pools.map((p) => [p.name, p]));
    this.#tenants = new Map(tenants.map((t) => [t.tenant_id, {
      transactional: t.transactional_pool, broadcast: t.broadcast_pool,
      perHour: t.quota_per_hour === null ? null : Number(t.quota_per_hour), perDay: t.quota_per_day === null ? null : Number(t.quota_per_day),
    }]));
    this.#starts = starts;
  }

  pools(): IpPool[] {
    return [...this.#pools.values()];
  }

  pool(name: string): IpPool | null {
    return this.#pools.get(name) ?? null;
  }

  /**
   * The pool for a message: its tenant's pool for the stream, else `ip_pools.default_pool`;
   * null: no pool (the host's default address). A name that no longer exists falls back too.
   */
  poolFor(tenantId: string | null, stream: Stream | null): IpPool | null {
    const tenant = tenantId ? this.#tenants.get(tenantId) : undefined;
    const named = stream === 'broadcast' ? tenant?.broadcast : tenant?.transactional;
    return (named ? this.#pools.get(named) : undefined) ?? (this.#config.default_pool ? this.#pools.get(this.#config.default_pool) ?? null : null);
  }

  tenant(tenantId: string): TenantSending | null {
    return this.#tenants.get(tenantId) ?? null;
  }

  /** Day 0 of an address's warm-up: the configured date, else when it was first added or seen. */
  warmupStart(member: PoolMember, now: number): number {
    return member.warmupStart ?? this.#starts.get(member.address) ?? now;
  }
}
