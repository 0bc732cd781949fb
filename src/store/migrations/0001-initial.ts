// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
import { sql, type Kysely } from 'kysely';
import { serialId, bytesType } from './dialect.ts';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('sandbox', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createTable('domains')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createTable('messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text')
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('stream', 'text', (c) => c.notNull().defaultTo('transactional'))
    .addColumn('mail_from', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('body', bytesType(db))
    .addColumn('body_path', 'text')
    .addColumn('header_size', 'integer', (c) => c.notNull())
    .addColumn('message_id_header', 'text')
    .addColumn('subject', 'text')
    .addColumn('from_header', 'text')
    .addColumn('dsn_ret', 'text')
    .addColumn('dsn_envid', 'text')
    .addColumn('is_bounce', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('smtputf8', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('client_ip', 'text')
    .addColumn('auth_user', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('messages_tenant_created').on('messages').columns(['tenant_id', 'created_at']).execute();
  await db.schema.createTable('recipients')
    .$call(serialId(db))
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text')
    .addColumn('rcpt', 'text', (c) => c.notNull())
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('dsn_notify', 'text')
    .addColumn('dsn_orcpt', 'text')
    .addColumn('last_code', 'integer')
    .addColumn('last_enhanced', 'text')
    .addColumn('last_response', 'text')
    .addColumn('last_mx', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('recipients_message').on('recipients').column('message_id').execute();
  // The scheduler's scan: only rows that can still be worked on are indexed.
  await db.schema.createIndex('recipients_due').on('recipients').columns(['next_attempt_at'])
    .where(sql.ref('status'), 'in', ['queued', 'deferred']).execute();
  await db.schema.createIndex('recipients_inflight').on('recipients').columns(['lease_expires_at'])
    .where(sql.ref('status'), '=', 'inflight').execute();
  await db.schema.createIndex('recipients_status_domain').on('recipients').columns(['status', 'domain']).execute();
  await db.schema.createTable('attempts')
    .$call(serialId(db))
    .addColumn('recipient_id', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('mx_host', 'text')
    .addColumn('ip', 'text')
    .addColumn('port', 'integer')
    .addColumn('code', 'integer')
    .addColumn('enhanced', 'text')
    .addColumn('response', 'text')
    .addColumn('tls_version', 'text')
    .addColumn('tls_cipher', 'text')
    .execute();
  await db.schema.createIndex('attempts_message').on('attempts').column('message_id').execute();
  await db.schema.createTable('events')
    .$call(serialId(db))
    .addColumn('uid', 'text', (c) => c.notNull().unique())
    .addColumn('tenant_id', 'text')
    .addColumn('message_id', 'text')
    .addColumn('recipient_id', 'integer')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_tenant').on('events').columns(['tenant_id', 'id']).execute();
  await db.schema.createIndex('events_message').on('events').columns(['message_id', 'id']).execute();
  await db.schema.createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['settings', 'events', 'attempts', 'recipients', 'messages', 'credentials', 'domains', 'tenants']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
