// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Suppression lists: per tenant and stream, the addresses that must not be sent to, and why.
// One row per (tenant, stream, address); the address is stored normalised (trimmed, lower-
// cased, domain in A-labels) so that a lookup is one probe of the unique index.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('suppressions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    // transactional | broadcast
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    // hard_bounce | complaint | unsubscribe | manual
    .addColumn('reason', 'text', (c) => c.notNull())
    // e.g. the bounce diagnostic; free text
    .addColumn('description', 'text')
    // The message that caused the entry (bounce, complaint, unsubscribe), if any.
    .addColumn('message_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // null: permanent
    .addColumn('expires_at', 'bigint')
    .execute();
  // The send path's lookup (tenant, stream, address IN (…)) and the upsert's conflict target.
  await db.schema.createIndex('suppressions_tenant_stream_address').on('suppressions').columns(['tenant_id', 'stream', 'address']).unique().execute();
  // Listing pages in id order within a stream (a listing of both streams merges two of these).
  await db.schema.createIndex('suppressions_tenant_stream_id').on('suppressions').columns(['tenant_id', 'stream', 'id']).execute();
  // The retention job's purge of expired entries; most entries are permanent, so only the others.
  await db.schema.createIndex('suppressions_expires').on('suppressions').column('expires_at').where(sql.ref('expires_at'), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('suppressions').ifExists().execute();
}
