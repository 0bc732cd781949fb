// Remembered responses for the HTTP `Idempotency-Key` header (draft-ietf-httpapi-idempotency-
// key-header): per tenant, for a limited time. An expired row counts as absent and is
// replaced; purgeIdempotencyKeys removes old rows in small batches.
import type { Kysely } from 'kysely';
import type { Database, IdempotencyKeyTable } from '../database.ts';

/** The live (unexpired) record of a key, if any. */
export async function findIdempotencyKey(db: Kysely<Database>, tenantId: string, key: string, now = Date.now()): Promise<IdempotencyKeyTable | undefined> {
  return db.selectFrom('idempotency_keys').selectAll()
    .where('tenant_id', '=', tenantId).where('key', '=', key).where('expires_at', '>', now).executeTakeFirst();
}

/** Records a key's response, replacing an expired record of the same key. */
export async function saveIdempotencyKey(db: Kysely<Database>, row: IdempotencyKeyTable): Promise<void> {
  await db.insertInto('idempotency_keys').values(row).onConflict((oc) => oc.columns(['tenant_id', 'key']).doUpdateSet({
    fingerprint: row.fingerprint, status: row.status, response: row.response, created_at: row.created_at, expires_at: row.expires_at,
  })).execute();
}

/** Deletes up to `limit` expired records; returns how many. */
export async function purgeIdempotencyKeys(db: Kysely<Database>, now = Date.now(), limit = 1000): Promise<number> {
  const res = await db.deleteFrom('idempotency_keys').where((eb) => eb(eb.refTuple('tenant_id', 'key'), 'in',
    eb.selectFrom('idempotency_keys').select(['tenant_id', 'key']).where('expires_at', '<=', now).limit(limit).$asTuple('tenant_id', 'key'))).executeTakeFirst();
  return Number(res.numDeletedRows);
}
