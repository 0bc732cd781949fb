// A tenant's IP pool per stream and its sending quota (issue 5): the `pools` and `quota`
// fields of PATCH /api/v1/tenants/{id}, and how GET shows them with the quota's usage.
import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Config } from '../../config/index.ts';
import { getIpPool, getTenantSending, putTenantSending, type Database, type Store, type TenantSendingPatch } from '../../store/index.ts';
import { reportQuota } from '../../pools/index.ts';
import { fieldProblem } from '../problem.ts';
import { poolName } from './ip-pools.ts';

const quotaLimit = z.number().int().positive().max(1_000_000_000).nullable().optional();

/** Fields added to the PATCH body. */
export const tenantSendingBody = {
  pools: z.strictObject({
    transactional: poolName.nullable().optional().describe('Pool for the transactional stream; null: ip_pools.default_pool'),
    broadcast: poolName.nullable().optional().describe('Pool for the broadcast stream; null: ip_pools.default_pool'),
  }).optional().describe('IP pool per stream (GET /api/v1/ip-pools)'),
  quota: z.strictObject({
    per_hour: quotaLimit.describe('Recipients per UTC hour; null: no limit'),
    per_day: quotaLimit.describe('Recipients per UTC day; null: no limit'),
  }).optional().describe('Sending quota: over it, mail is deferred to the next hour or day'),
};

export const quotaSchema = z.object({
  per_hour: z.number().int().nullable(),
  per_day: z.number().int().nullable(),
  sent_this_hour: z.number().int().describe('Recipients handed to remote MX hosts since the start of this UTC hour (written about once a second)'),
  sent_today: z.number().int(),
}).meta({ id: 'Quota' });

/** Fields added to the tenant's JSON (GET one, PATCH). */
export const tenantSendingSchema = {
  pools: z.object({ transactional: z.string().nullable(), broadcast: z.string().nullable() }),
  quota: quotaSchema,
};

export async function sendingJson(store: Store, tenantId: string): Promise<{ pools: { transactional: string | null; broadcast: string | null }; quota: z.output<typeof quotaSchema> }> {
  const row = await getTenantSending(store.db, tenantId);
  const q = await reportQuota(store.db, tenantId, row);
  return {
    pools: { transactional: row?.transactional_pool ?? null, broadcast: row?.broadcast_pool ?? null },
    quota: { per_hour: q.perHour, per_day: q.perDay, sent_this_hour: q.sentThisHour, sent_today: q.sentToday },
  };
}

/** Saves the given fields; a pool must exist (configured or created through the API). Inside store.write. */
export async function saveTenantSending(trx: Kysely<Database>, config: Readonly<Config>, tenantId: string, change: {
  pools?: { transactional?: string | null; broadcast?: string | null } | undefined;
  quota?: { per_hour?: number | null; per_day?: number | null } | undefined;
}): Promise<void> {
  const patch: { -readonly [K in keyof TenantSendingPatch]: TenantSendingPatch[K] } = {};
  for (const stream of ['transactional', 'broadcast'] as const) {
    const name = change.pools?.[stream];
    if (name === undefined) continue;
    if (name !== null && !config.ip_pools.pools.some((p) => p.name === name) && !(await getIpPool(trx, name))) {
      throw fieldProblem('body', ['pools', stream], `no IP pool "${name}"`, 'unprocessable');
    }
    patch[`${stream}_pool`] = name;
  }
  if (change.quota?.per_hour !== undefined) patch.quota_per_hour = change.quota.per_hour;
  if (change.quota?.per_day !== undefined) patch.quota_per_day = change.quota.per_day;
  await putTenantSending(trx, tenantId, patch);
}
