import type { Kysely } from 'kysely';
import type { Database } from '../database.ts';

/**
 * Takes or renews the lease `name` for `owner` until now + ttlMs: answers true when `owner`
 * holds it afterwards (it was free, expired, or already `owner`'s). One statement, so two
 * nodes racing for a free lease cannot both win (the primary key serialises them).
 */
export async function takeClusterLease(db: Kysely<Database>, name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
  const row = await db.insertInto('cluster_leases').values({ name, owner, expires_at: now + ttlMs })
    .onConflict((oc) => oc.column('name').doUpdateSet({ owner, expires_at: now + ttlMs })
      .where((eb) => eb.or([eb('cluster_leases.owner', '=', owner), eb('cluster_leases.expires_at', '<', now)])))
    .returning('owner').executeTakeFirst();
  return row?.owner === owner;
}

/** Gives the lease up (shutdown), so another node takes the job over at once. */
export async function dropClusterLease(db: Kysely<Database>, name: string, owner: string): Promise<void> {
  await db.deleteFrom('cluster_leases').where('name', '=', name).where('owner', '=', owner).execute();
}

export async function listClusterLeases(db: Kysely<Database>): Promise<Array<{ name: string; owner: string; expires_at: number }>> {
  return (await db.selectFrom('cluster_leases').selectAll().orderBy('name').execute()).map((r) => ({ ...r, expires_at: Number(r.expires_at) }));
}
