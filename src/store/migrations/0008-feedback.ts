// Frozen in time: this migration uses Kysely<any> and imports nothing from src/.
// Bounce and complaint processing: complaints sent to a feedback-loop address carry no VERP
// token and are matched by the original's Message-ID (so that column gets an index), and
// soft bounces are counted per address so that one failing again and again is suppressed.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('messages_message_id_header').on('messages').column('message_id_header')
    .where(sql.ref('message_id_header'), 'is not', null).execute();
  await db.schema.createTable('soft_bounces')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('stream', 'text', (c) => c.notNull())
    // Normalised like suppressions.address.
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    // The window starts at the first soft bounce counted; a bounce after it ends starts again at 1.
    .addColumn('first_at', 'bigint', (c) => c.notNull())
    .addColumn('last_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('soft_bounces_pk', ['tenant_id', 'stream', 'address'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('soft_bounces').ifExists().execute();
  await db.schema.dropIndex('messages_message_id_header').ifExists().execute();
}
