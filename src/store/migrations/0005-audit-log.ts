// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// The audit log: one row per administrative action (keys, credentials, domains, tenants,
// webhooks), written in the transaction of the change. Rows are never updated; the id
// orders them and is the pagination cursor.
import type { Kysely } from 'kysely';
import { serialId } from './dialect.ts';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('audit_log')
    .$call(serialId(db))
    .addColumn('at', 'bigint', (c) => c.notNull())
    // admin (the admin token), key (a tenant API key), cli (the postline command)
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    // The API key id for `key`; null otherwise.
    .addColumn('actor_id', 'text')
    // The tenant the action concerns (no foreign key: the entry outlives a deleted tenant).
    .addColumn('tenant_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    // JSON object of non-secret details.
    .addColumn('details', 'text')
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('audit_log_tenant').on('audit_log').columns(['tenant_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
}
