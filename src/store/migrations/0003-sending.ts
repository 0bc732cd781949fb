// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Sending over the HTTP API: tags and metadata on messages (echoed in events), the time a
// scheduled message is due, Handlebars templates per tenant, and remembered responses for
// Idempotency-Key. Templates and keys go with their tenant (ON DELETE CASCADE).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // JSON text: tags an array of strings, metadata an object; null when not given.
  await db.schema.alterTable('messages').addColumn('tags', 'text').execute();
  await db.schema.alterTable('messages').addColumn('metadata', 'text').execute();
  await db.schema.alterTable('messages').addColumn('send_at', 'bigint').execute();
  await db.schema.createTable('templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('html', 'text')
    .addColumn('text', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // A template's name is its alias: unique within the tenant, free across tenants.
  await db.schema.createIndex('templates_tenant_name').on('templates').columns(['tenant_id', 'name']).unique().execute();
  await db.schema.createTable('idempotency_keys')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    // SHA-256 of method, route and body bytes: the same key with another request is a 409.
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('response', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['tenant_id', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_keys_expires').on('idempotency_keys').column('expires_at').execute();
  // The scheduler already scans recipients by next_attempt_at; this only serves listings.
  await db.schema.createIndex('messages_send_at').on('messages').column('send_at').where(sql.ref('send_at'), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('messages_send_at').ifExists().execute();
  await db.schema.dropTable('idempotency_keys').ifExists().execute();
  await db.schema.dropTable('templates').ifExists().execute();
  for (const c of ['send_at', 'metadata', 'tags']) await db.schema.alterTable('messages').dropColumn(c).execute();
}
