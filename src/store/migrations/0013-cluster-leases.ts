// Frozen in time: this migration uses Kysely<any> and imports nothing from src/ but ./dialect.ts.
// Issue 7: background jobs (webhook fan-out and sending, retention, DNS re-checks, campaign
// expansion) run once per cluster, not once per node: the node that holds a job's lease runs it.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('cluster_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('cluster_leases').execute();
}
