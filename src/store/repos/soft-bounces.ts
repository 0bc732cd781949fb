import { sql, type Kysely } from 'kysely';
import type { Database, Stream } from '../database.ts';

/**
 * Counts one soft bounce of `address` (normalised) and returns the count within the window:
 * a bounce after the window that began with the first one counted starts a new window at 1.
 * One upsert; call inside store.write.
 */
export async function countSoftBounce(db: Kysely<Database>, tenantId: string, stream: Stream, address: string, windowMs: number, now = Date.now()): Promise<number> {
  const row = await db.insertInto('soft_bounces')
    .values({ tenant_id: tenantId, stream, address, count: 1, first_at: now, last_at: now })
    .onConflict((oc) => oc.columns(['tenant_id', 'stream', 'address']).doUpdateSet({
      count: sql<number>`case when soft_bounces.first_at < ${now - windowMs} then 1 else soft_bounces.count + 1 end`,
      first_at: sql<number>`case when soft_bounces.first_at < ${now - windowMs} then ${now} else soft_bounces.first_at end`,
      last_at: now,
    }))
    .returning('count').executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Forgets the count once the address is suppressed (or removed from the list and tried afresh). */
export async function resetSoftBounces(db: Kysely<Database>, tenantId: string, stream: Stream, address: string): Promise<void> {
  await db.deleteFrom('soft_bounces').where('tenant_id', '=', tenantId).where('stream', '=', stream).where('address', '=', address).execute();
}
