// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Receipts: webhook endpoints of a tenant, one delivery row per (endpoint, event) made by
// the dispatcher's fan-out (UNIQUE, so a fan-out repeated after a crash adds nothing), and
// one row per HTTP call. Deleting the tenant removes its endpoints, and with them their
// deliveries and attempts (ON DELETE CASCADE, with PRAGMA foreign_keys = ON). Plus the
// indexes the query API needs (messages of a tenant in id order, messages by recipient),
// hourly event counts for statistics, and an index for the retention of bodies.
import { sql, type Kysely } from 'kysely';
import { serialId } from './dialect.ts';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    // JSON array of event types; [] means every type.
    .addColumn('events', 'text', (c) => c.notNull())
    // whsec_ + base64 of the key bytes (Standard Webhooks).
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('disabled_reason', 'text')
    .addColumn('disabled_at', 'bigint')
    // Time of the first failed call since the last success; null while healthy.
    .addColumn('failing_since', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhooks_tenant').on('webhooks').columns(['tenant_id', 'id']).execute();

  await db.schema.createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    // The event's public id: the webhook-id header, the same on every attempt.
    .addColumn('event_uid', 'text', (c) => c.notNull())
    // events.id: the order deliveries of one endpoint are sent in (null for test pings).
    .addColumn('event_id', 'integer')
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    // The exact JSON body sent (signed anew with the attempt's timestamp each time).
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // attempts at the last replay: the retry schedule restarts from there.
    .addColumn('schedule_start', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').columns(['webhook_id', 'event_uid']).unique().execute();
  // The dispatcher asks per endpoint, so one endpoint's backlog cannot hide another's.
  await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['webhook_id', 'next_attempt_at', 'event_id'])
    .where(sql.ref('status'), '=', 'pending').execute();
  await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook_id', 'id']).execute();
  await db.schema.createIndex('webhook_deliveries_created').on('webhook_deliveries').columns(['created_at']).execute();

  await db.schema.createTable('webhook_attempts')
    .$call(serialId(db))
    .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
    .addColumn('webhook_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('response_excerpt', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'id']).execute();

  await db.schema.createIndex('messages_tenant_id').on('messages').columns(['tenant_id', 'id']).execute();
  await db.schema.createIndex('recipients_rcpt').on('recipients').columns(['rcpt']).execute();
  // Retention's scan: only messages that still hold their bytes.
  await db.schema.createIndex('messages_with_body').on('messages').column('created_at')
    .where(sql<boolean>`body IS NOT NULL OR body_path IS NOT NULL`).execute();

  // Event counts per tenant, UTC hour and type, added by the dispatcher's fan-out in the same
  // transaction as its cursor (so each event is counted once): statistics read these few
  // rows instead of scanning events, and outlive the retention of events.
  await db.schema.createTable('event_counts')
    // No foreign key: a tenant deleted while a batch is counted must not fail the fan-out;
    // the retention job removes the counts of deleted tenants.
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'bigint', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('event_counts_pk', ['tenant_id', 'hour', 'type'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const i of ['messages_with_body', 'recipients_rcpt', 'messages_tenant_id']) await db.schema.dropIndex(i).ifExists().execute();
  for (const t of ['event_counts', 'webhook_attempts', 'webhook_deliveries', 'webhooks']) await db.schema.dropTable(t).ifExists().execute();
}
