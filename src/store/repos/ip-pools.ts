// IP pools managed through the API, per-address warm-up starts and hourly counts, throttles
// in force, tenants' pool assignments and quotas with their hourly counts, and cached
// MTA-STS policies (migration 0010). Pools declared in the configuration are not stored here:
// src/pools/pool-directory.ts merges the two.
import { sql, type Kysely } from 'kysely';
import type { Database, IpPoolAddressTable, IpThrottleTable, MtaStsPolicyTable, TenantSendingTable } from '../database.ts';

export interface IpPoolMemberInput {
  readonly address: string;
  readonly hostname: string;
  readonly weight: number;
  readonly warmup: boolean;
}

export interface StoredIpPool {
  readonly name: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly members: readonly IpPoolAddressTable[];
}

/** Every API-managed pool with its addresses, by name. */
export async function listIpPools(db: Kysely<Database>): Promise<StoredIpPool[]> {
  const [pools, members] = await Promise.all([
    db.selectFrom('ip_pools').selectAll().orderBy('name').execute(),
    db.selectFrom('ip_pool_addresses').selectAll().orderBy('pool_name').orderBy('added_at').orderBy('address').execute(),
  ]);
  return pools.map((p) => ({
    name: p.name, createdAt: Number(p.created_at), updatedAt: Number(p.updated_at),
    members: members.filter((m) => m.pool_name === p.name).map(numeric),
  }));
}

export async function getIpPool(db: Kysely<Database>, name: string): Promise<StoredIpPool | null> {
  const pool = await db.selectFrom('ip_pools').selectAll().where('name', '=', name).executeTakeFirst();
  if (!pool) return null;
  const members = await db.selectFrom('ip_pool_addresses').selectAll().where('pool_name', '=', name).orderBy('added_at').orderBy('address').execute();
  return { name: pool.name, createdAt: Number(pool.created_at), updatedAt: Number(pool.updated_at), members: members.map(numeric) };
}

function numeric(m: IpPoolAddressTable): IpPoolAddressTable {
  return { ...m, weight: Number(m.weight), warmup: Number(m.warmup), added_at: Number(m.added_at) };
}

/** Creates a pool; false when the name is taken. Inside store.write. */
export async function createIpPool(db: Kysely<Database>, name: string, members: readonly IpPoolMemberInput[], now = Date.now()): Promise<boolean> {
  const inserted = await db.insertInto('ip_pools').values({ name, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
  await insertMembers(db, name, members, new Map(), now);
  return true;
}

/**
 * Replaces a pool's address list; an address that stays keeps the time it was added.
 * False when there is no such pool. Inside store.write.
 */
export async function replaceIpPoolMembers(db: Kysely<Database>, name: string, members: readonly IpPoolMemberInput[], now = Date.now()): Promise<boolean> {
  const updated = await db.updateTable('ip_pools').set({ updated_at: now }).where('name', '=', name).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return false;
  const old = await db.selectFrom('ip_pool_addresses').select(['address', 'added_at']).where('pool_name', '=', name).execute();
  await db.deleteFrom('ip_pool_addresses').where('pool_name', '=', name).execute();
  await insertMembers(db, name, members, new Map(old.map((o) => [o.address, Number(o.added_at)])), now);
  return true;
}

async function insertMembers(db: Kysely<Database>, name: string, members: readonly IpPoolMemberInput[], addedAt: Map<string, number>, now: number): Promise<void> {
  if (members.length === 0) return;
  await db.insertInto('ip_pool_addresses').values(members.map((m) => ({
    pool_name: name, address: m.address, hostname: m.hostname, weight: m.weight, warmup: m.warmup ? 1 : 0, added_at: addedAt.get(m.address) ?? now,
  }))).execute();
  await ensureIpAddresses(db, members.map((m) => m.address), now);
}

/** Deletes a pool; false when there was none. Inside store.write. */
export async function deleteIpPool(db: Kysely<Database>, name: string): Promise<boolean> {
  await db.deleteFrom('ip_pool_addresses').where('pool_name', '=', name).execute();
  const res = await db.deleteFrom('ip_pools').where('name', '=', name).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Tenants that name the pool for a stream. */
export async function tenantsUsingPool(db: Kysely<Database>, name: string): Promise<string[]> {
  const rows = await db.selectFrom('tenant_sending').select('tenant_id')
    .where((eb) => eb.or([eb('transactional_pool', '=', name), eb('broadcast_pool', '=', name)])).execute();
  return rows.map((r) => r.tenant_id);
}

/** Records day 0 of the warm-up for addresses seen for the first time (an existing start stays). */
export async function ensureIpAddresses(db: Kysely<Database>, addresses: readonly string[], now = Date.now()): Promise<void> {
  if (addresses.length === 0) return;
  await db.insertInto('ip_addresses').values([...new Set(addresses)].map((address) => ({ address, warmup_started_at: now })))
    .onConflict((oc) => oc.column('address').doNothing()).execute();
}

export async function warmupStarts(db: Kysely<Database>, addresses: readonly string[]): Promise<Map<string, number>> {
  if (addresses.length === 0) return new Map();
  const rows = await db.selectFrom('ip_addresses').selectAll().where('address', 'in', [...new Set(addresses)]).execute();
  return new Map(rows.map((r) => [r.address, Number(r.warmup_started_at)]));
}

/** Adds counted recipients per (address, hour). Inside store.write. */
export async function addIpCounts(db: Kysely<Database>, deltas: ReadonlyArray<{ address: string; hour: number; n: number }>): Promise<void> {
  for (const d of deltas) {
    await db.insertInto('ip_hourly_counts').values({ address: d.address, hour: d.hour, n: d.n })
      .onConflict((oc) => oc.columns(['address', 'hour']).doUpdateSet({ n: sql<number>`ip_hourly_counts.n + ${d.n}` })).execute();
  }
}

/** Hourly counts from `sinceHour` on, for the given addresses (all when omitted). */
export async function ipCountsSince(db: Kysely<Database>, sinceHour: number, addresses?: readonly string[]): Promise<Array<{ address: string; hour: number; n: number }>> {
  let q = db.selectFrom('ip_hourly_counts').selectAll().where('hour', '>=', sinceHour);
  if (addresses) {
    if (addresses.length === 0) return [];
    q = q.where('address', 'in', [...new Set(addresses)]);
  }
  return (await q.execute()).map((r) => ({ address: r.address, hour: Number(r.hour), n: Number(r.n) }));
}

/** Counts older than `beforeHour` only cost space. */
export async function purgeHourlyCounts(db: Kysely<Database>, beforeHour: number): Promise<void> {
  await db.deleteFrom('ip_hourly_counts').where('hour', '<', beforeHour).execute();
  await db.deleteFrom('tenant_hourly_counts').where('hour', '<', beforeHour).execute();
  await db.deleteFrom('ip_throttles').where('until', '<', beforeHour).execute();
}

export async function putIpThrottle(db: Kysely<Database>, row: IpThrottleTable): Promise<void> {
  await db.insertInto('ip_throttles').values(row)
    .onConflict((oc) => oc.columns(['address', 'destination', 'kind']).doUpdateSet({ until: row.until, reason: row.reason, updated_at: row.updated_at })).execute();
}

/** Throttles still in force at `now`, optionally for some addresses only. */
export async function activeIpThrottles(db: Kysely<Database>, now: number, addresses?: readonly string[]): Promise<IpThrottleTable[]> {
  let q = db.selectFrom('ip_throttles').selectAll().where('until', '>', now);
  if (addresses) {
    if (addresses.length === 0) return [];
    q = q.where('address', 'in', [...new Set(addresses)]);
  }
  return (await q.orderBy('address').orderBy('destination').execute()).map((r) => ({ ...r, until: Number(r.until), updated_at: Number(r.updated_at) }));
}

export async function listTenantSending(db: Kysely<Database>): Promise<TenantSendingTable[]> {
  return db.selectFrom('tenant_sending').selectAll().execute();
}

export async function getTenantSending(db: Kysely<Database>, tenantId: string): Promise<TenantSendingTable | null> {
  return (await db.selectFrom('tenant_sending').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst()) ?? null;
}

export type TenantSendingPatch = Partial<Pick<TenantSendingTable, 'transactional_pool' | 'broadcast_pool' | 'quota_per_hour' | 'quota_per_day'>>;

/** Changes the given fields of a tenant's pools and quota (others stay). Inside store.write. */
export async function putTenantSending(db: Kysely<Database>, tenantId: string, patch: TenantSendingPatch, now = Date.now()): Promise<TenantSendingTable> {
  const current = await getTenantSending(db, tenantId);
  const row: TenantSendingTable = {
    tenant_id: tenantId,
    transactional_pool: null, broadcast_pool: null, quota_per_hour: null, quota_per_day: null,
    ...current,
    ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
    updated_at: now,
  };
  await db.insertInto('tenant_sending').values(row)
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({
      transactional_pool: row.transactional_pool, broadcast_pool: row.broadcast_pool,
      quota_per_hour: row.quota_per_hour, quota_per_day: row.quota_per_day, updated_at: now,
    })).execute();
  return row;
}

/** Adds counted recipients per (tenant, hour). Inside store.write. */
export async function addTenantCounts(db: Kysely<Database>, deltas: ReadonlyArray<{ tenantId: string; hour: number; n: number }>): Promise<void> {
  for (const d of deltas) {
    await db.insertInto('tenant_hourly_counts').values({ tenant_id: d.tenantId, hour: d.hour, n: d.n })
      .onConflict((oc) => oc.columns(['tenant_id', 'hour']).doUpdateSet({ n: sql<number>`tenant_hourly_counts.n + ${d.n}` })).execute();
  }
}

export async function tenantCountsSince(db: Kysely<Database>, sinceHour: number, tenantIds?: readonly string[]): Promise<Array<{ tenantId: string; hour: number; n: number }>> {
  let q = db.selectFrom('tenant_hourly_counts').selectAll().where('hour', '>=', sinceHour);
  if (tenantIds) {
    if (tenantIds.length === 0) return [];
    q = q.where('tenant_id', 'in', [...new Set(tenantIds)]);
  }
  return (await q.execute()).map((r) => ({ tenantId: r.tenant_id, hour: Number(r.hour), n: Number(r.n) }));
}

export async function getMtaStsPolicy(db: Kysely<Database>, domain: string): Promise<MtaStsPolicyTable | null> {
  const row = await db.selectFrom('mta_sts_policies').selectAll().where('domain', '=', domain).executeTakeFirst();
  return row ? { ...row, max_age: Number(row.max_age), fetched_at: Number(row.fetched_at), expires_at: Number(row.expires_at) } : null;
}

export async function putMtaStsPolicy(db: Kysely<Database>, row: MtaStsPolicyTable): Promise<void> {
  await db.insertInto('mta_sts_policies').values(row)
    .onConflict((oc) => oc.column('domain').doUpdateSet({
      policy_id: row.policy_id, mode: row.mode, mx: row.mx, max_age: row.max_age, fetched_at: row.fetched_at, expires_at: row.expires_at,
    })).execute();
}
