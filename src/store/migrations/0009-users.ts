// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Dashboard users and their sessions (src/web/), plus the indexes the dashboard's pages
// need to stay fast with 100,000+ messages: the capture inbox and the Messages page's
// sender filter.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Normalised (trimmed, lower-cased) by the repository; one account per address.
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    // Tenant users: their tenant and role (owner | viewer). Admins: both null.
    .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
    .addColumn('role', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint')
    .execute();
  await db.schema.createIndex('users_tenant').on('users').columns(['tenant_id', 'id']).execute();
  await db.schema.createTable('sessions')
    // base64url SHA-256 of the session token: the token itself is only in the browser's cookie.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
  await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
  // The capture inbox: recipients kept by capture mode (delivered without an MX), newest
  // message first per tenant.
  await db.schema.createIndex('recipients_captured').on('recipients').columns(['tenant_id', 'message_id'])
    .where(sql.ref('status'), '=', 'delivered').where(sql.ref('last_mx'), 'is', null).execute();
  // The Messages page's sender filter (exact envelope sender), newest first.
  await db.schema.createIndex('messages_tenant_sender').on('messages').columns(['tenant_id', 'mail_from', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const i of ['messages_tenant_sender', 'recipients_captured']) {
    await db.schema.dropIndex(i).ifExists().execute();
  }
  await db.schema.dropTable('sessions').ifExists().execute();
  await db.schema.dropTable('users').ifExists().execute();
}
